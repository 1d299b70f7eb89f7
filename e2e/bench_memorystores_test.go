package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/hangarhq/hangar/internal/testserver"
)

// BenchmarkMemories measures memory create and get through the whole HTTP
// stack of a real hangar serve, with the official SDK as the client.
func BenchmarkMemories(b *testing.B) {
	s := testserver.Start(b)
	c := s.Client("")
	ctx := context.Background()
	st, err := c.Beta.MemoryStores.New(ctx, anthropic.BetaMemoryStoreNewParams{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	content := anthropic.String("a short note an agent keeps between sessions, about one line long.")

	b.Run("CreateMemory", func(b *testing.B) {
		// Paths are unique per store, and -count reruns this against the
		// same server.
		run := time.Now().UnixNano()
		timeOps(b, func(i int) error {
			_, err := c.Beta.MemoryStores.Memories.New(ctx, st.ID, anthropic.BetaMemoryStoreMemoryNewParams{
				Path: fmt.Sprintf("/bench/%d/%d.md", run, i), Content: content,
			})
			return err
		})
	})
	b.Run("GetMemory", func(b *testing.B) {
		m, err := c.Beta.MemoryStores.Memories.New(ctx, st.ID, anthropic.BetaMemoryStoreMemoryNewParams{
			Path: fmt.Sprintf("/get/%d.md", time.Now().UnixNano()), Content: content,
		})
		if err != nil {
			b.Fatal(err)
		}
		timeOps(b, func(int) error {
			_, err := c.Beta.MemoryStores.Memories.Get(ctx, m.ID, anthropic.BetaMemoryStoreMemoryGetParams{MemoryStoreID: st.ID})
			return err
		})
	})
}
