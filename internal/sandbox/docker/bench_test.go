package docker_test

import (
	"testing"

	"github.com/hangarhq/hangar/internal/sandbox"
	"github.com/hangarhq/hangar/internal/sandbox/sandboxtest"
)

func BenchmarkSandbox(b *testing.B) {
	sandboxtest.Bench(b, func(tb testing.TB) sandbox.Backend { return newBackend(tb) })
}
