package exposition

import "sync"

// cache keeps the compressed samples of the Renderers being served, so
// that a Renderer is compressed once however many gzip scrapes read it.
// It holds only the Renderers of the latest scrape: a replaced one, and
// what was compressed from it, goes at the next scrape.
type cache struct {
	mu      sync.Mutex
	entries map[Renderer]*compressedRenderer
}

// compressedRenderer is a Renderer's samples compressed by family,
// compressed on first use.
type compressedRenderer struct {
	once     sync.Once
	byFamily []segment
}

// lookup returns the entry of each of rs, new ones empty, and forgets
// every other Renderer.
func (c *cache) lookup(rs []Renderer) []*compressedRenderer {
	out := make([]*compressedRenderer, len(rs))
	c.mu.Lock()
	defer c.mu.Unlock()
	same := len(rs) == len(c.entries)
	for i, r := range rs {
		e, ok := c.entries[r]
		if !ok {
			e = new(compressedRenderer)
			same = false
		}
		out[i] = e
	}
	if !same {
		c.entries = make(map[Renderer]*compressedRenderer, len(rs))
		for i, r := range rs {
			c.entries[r] = out[i]
		}
	}
	return out
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
