package exposition

import (
	"slices"
	"sync"
)

// cache keeps the compressed samples of the Renderers being served, so
// that a Renderer is compressed once however many gzip scrapes read it.
// It holds only the Renderers of the latest scrape: a replaced one, and
// what was compressed from it, goes at the next scrape.
type cache struct {
	mu      sync.Mutex
	served  []Renderer            // the latest scrape's
	entries []*compressedRenderer // entries[i] is served[i]'s; never changed once set
}

// compressedRenderer is a Renderer's samples compressed by family,
// compressed on first use.
type compressedRenderer struct {
	once     sync.Once
	byFamily []segment
}

// lookup returns the entry of each of rs, new ones empty, and forgets
// every other Renderer. A scrape serving the same Renderers as the last
// one allocates nothing.
func (c *cache) lookup(rs []Renderer) []*compressedRenderer {
	c.mu.Lock()
	defer c.mu.Unlock()
	if slices.Equal(rs, c.served) {
		return c.entries
	}
	entries := make([]*compressedRenderer, len(rs))
	for i, r := range rs {
		// Sources are few; a linear search is cheaper than a map.
		if j := slices.Index(c.served, r); j >= 0 {
			entries[i] = c.entries[j]
		} else {
			entries[i] = new(compressedRenderer)
		}
	}
	c.served, c.entries = slices.Clone(rs), entries
	return entries
}

// segments returns r's samples compressed by family, compressing them on
// the first call; r is the Renderer this entry was looked up for.
func (e *compressedRenderer) segments(r Renderer, families int) []segment {
	e.once.Do(func() {
		e.byFamily = make([]segment, families)
		for f := range families {
			if n := r.Count(f); n > 0 {
				e.byFamily[f] = compress(n*bytesPerSample, func(w *Writer) { r.Render(w, f) })
			}
		}
	})
	return e.byFamily
}
