package exposition

import "testing"

// TestCacheCompressesOnceAndForgetsReplaced: gzip scrapes compress a
// Renderer once; a scrape that no longer serves it, gzip or not, drops it.
func TestCacheCompressesOnceAndForgetsReplaced(t *testing.T) {
	a, b := twoRenderers()
	served := []Renderer{a}
	h := NewHandler(testFamilies, func() []Renderer { return served }, nil, HandlerOpts{}).(*handler)
	get(t, h, true)
	get(t, h, true)
	if a.renders != 2 { // the two families with samples, once each
		t.Errorf("a rendered %d times for two gzip scrapes, want 2", a.renders)
	}
	get(t, h, false)
	if a.renders != 4 { // text is rendered on every scrape
		t.Errorf("a rendered %d times after a text scrape, want 4", a.renders)
	}

	served = []Renderer{b} // a new generation replaces a
	get(t, h, false)
	if len(h.cache.served) != 1 || h.cache.served[0] != Renderer(b) || len(h.cache.entries) != 1 {
		t.Errorf("after b replaced a, the cache holds %v", h.cache.served)
	}
	get(t, h, true)
	get(t, h, true)
	if b.renders != 1+1 { // the text scrape, then one compression
		t.Errorf("b rendered %d times, want 2", b.renders)
	}
}
