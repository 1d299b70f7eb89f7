package engine

import "sync"

// lifetime owns the goroutines the engine starts: Close stops new ones
// from starting and waits for those running, so nothing of the engine
// outlives it.
type lifetime struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// Go runs f in a goroutine tied to the lifetime; after Close it runs
// nothing and reports false.
func (l *lifetime) Go(f func()) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		f()
	}()
	return true
}

// Close waits for every goroutine started by Go.
func (l *lifetime) Close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.wg.Wait()
}
