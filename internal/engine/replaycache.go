package engine

import (
	"container/list"
	"sync"
	"time"

	"github.com/hangarhq/hangar/internal/wire"
)

// replayCache is a bounded LRU of recent send responses. It keeps only the
// echoes' ids, not their content: the content is in the log, and a large
// message kept here would stay in memory long after its session went idle.
type replayCache struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	order *list.List
	items map[string]*list.Element
}

type replayEntry struct {
	key      string
	eventIDs []string
	at       time.Time
}

func newReplayCache(max int, ttl time.Duration) *replayCache {
	return &replayCache{max: max, ttl: ttl, order: list.New(), items: map[string]*list.Element{}}
}

func (c *replayCache) get(key string) ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil, false
	}
	ent := el.Value.(*replayEntry)
	if time.Since(ent.at) > c.ttl {
		c.order.Remove(el)
		delete(c.items, key)
		return nil, false
	}
	return ent.eventIDs, true
}

func (c *replayCache) put(key string, echoes []wire.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.order.Remove(el)
	}
	eventIDs := make([]string, len(echoes))
	for i, ev := range echoes {
		eventIDs[i] = ev.ID
	}
	c.items[key] = c.order.PushFront(&replayEntry{key: key, eventIDs: eventIDs, at: time.Now()})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*replayEntry).key)
	}
}
