package engine

// CacheStats reports how many session runtimes e keeps in memory and their
// estimated size in bytes.
func CacheStats(e *Engine) (runs int, bytes int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.sessions), e.cacheBytes
}

// Cached reports whether e keeps the runtime of session id in memory.
func Cached(e *Engine, id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.sessions[id]
	return ok
}
