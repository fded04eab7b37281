package filter

import "sync"

// DefaultCacheSize bounds a Cache: a worker keeps at most this many
// compiled filters (a few KiB each).
const DefaultCacheSize = 4096

// Cache keeps compiled filters by their text, so a worker compiles each
// filter once (about a tenth of a millisecond) and then only evaluates it
// (about a microsecond). A filter that does not compile is kept with its
// error. Safe for concurrent use.
type Cache struct {
	mu   sync.Mutex
	size int
	m    map[string]compiled
}

type compiled struct {
	f   *Filter
	err error
}

// NewCache makes a cache of at most size filters (<= 0: DefaultCacheSize).
func NewCache(size int) *Cache {
	if size <= 0 {
		size = DefaultCacheSize
	}
	return &Cache{size: size, m: map[string]compiled{}}
}

// Get returns src compiled, from the cache or compiled now.
func (c *Cache) Get(src string) (*Filter, error) {
	c.mu.Lock()
	got, ok := c.m[src]
	c.mu.Unlock()
	if ok {
		return got.f, got.err
	}
	f, err := Compile(src)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.size {
		// Full: start again rather than track use. Recompiling what is
		// still in use costs a tenth of a millisecond once per filter.
		clear(c.m)
	}
	c.m[src] = compiled{f: f, err: err}
	return f, err
}

// Len is how many filters the cache holds.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
