// Package testserver starts a real `hangar serve` process for API tests: it
// builds the binary once per test binary, runs it on a free loopback port
// with a fresh data directory, and hands out official-SDK clients for it.
package testserver

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/hangarhq/hangar/internal/sandbox/docker"
	"github.com/hangarhq/hangar/internal/sessionres"
)

// AdminKey is the HANGAR_API_KEY every test server is started with.
const AdminKey = "sk-hangar-test-admin-key"

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary returns the path of a freshly built hangar binary, built with
// hangar-agent beside it as an installation has it.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hangar-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "hangar")
		// HANGAR_TEST_RACE=1 builds the server with the race detector, so
		// the e2e suite also hunts data races in the server process.
		args := []string{"build", "-o", dir + "/"}
		if os.Getenv("HANGAR_TEST_RACE") == "1" {
			args = append(args, "-race")
		}
		pk := []string{"github.com/hangarhq/hangar/cmd/hangar", "github.com/hangarhq/hangar/cmd/hangar-agent"}
		cmd := exec.Command("go", append(args, pk...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Server is a running hangar serve process.
type Server struct {
	URL     string
	DataDir string
	cmd     *exec.Cmd
	logs    *syncBuffer
	done    chan struct{}
}

// Option adjusts how the server is started.
type Option func(*opts)

type opts struct {
	env     []string
	args    []string
	dataDir string
}

// WithEnv adds environment variables (KEY=VALUE) to the server process.
func WithEnv(kv ...string) Option { return func(o *opts) { o.env = append(o.env, kv...) } }

// WithArgs adds command-line flags to hangar serve.
func WithArgs(args ...string) Option { return func(o *opts) { o.args = append(o.args, args...) } }

// WithDataDir reuses a data directory (to test restarts).
func WithDataDir(dir string) Option { return func(o *opts) { o.dataDir = dir } }

// Start runs hangar serve and waits until it answers /healthz. The process
// is stopped when the test ends; its log is printed if the test failed.
func Start(t testing.TB, options ...Option) *Server {
	t.Helper()
	var o opts
	for _, f := range options {
		f(&o)
	}
	if o.dataDir == "" {
		o.dataDir = t.TempDir()
	}
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", o.dataDir}, o.args...)
	cmd := exec.Command(Binary(t), args...)
	cmd.Env = append(append(CleanEnv(), "HANGAR_API_KEY="+AdminKey), o.env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &Server{DataDir: o.dataDir, cmd: cmd, logs: logs, done: make(chan struct{})}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			logs.Write([]byte(line + "\n"))
			if u, ok := strings.CutPrefix(line, "hangar: listening on "); ok {
				urlc <- u
			}
		}
		_ = cmd.Wait()
		close(s.done)
	}()
	select {
	case s.URL = <-urlc:
	case <-s.done:
		t.Fatalf("hangar serve exited before listening:\n%s", logs.String())
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("hangar serve did not start within 60s:\n%s", logs.String())
	}
	t.Cleanup(func() {
		s.Stop(t)
		if usesDocker(o) {
			// A stopped server leaves its containers for its next start
			// (they outlive it on purpose); no next start comes here.
			_ = docker.RemoveOwned(context.Background(), filepath.Join(o.dataDir, "sandboxes"))
		}
		// Memory overlays outlive a server like its sandboxes; this data
		// dir is deleted next.
		sessionres.UnmountAll(o.dataDir)
		if t.Failed() {
			t.Logf("hangar serve log:\n%s", logs.String())
		}
	})
	resp, err := http.Get(s.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	return s
}

// usesDocker reports whether the server runs docker sandboxes.
func usesDocker(o opts) bool {
	for i, a := range o.args {
		if a == "--sandbox=docker" || a == "--sandbox" && i+1 < len(o.args) && o.args[i+1] == "docker" {
			return true
		}
	}
	return slices.Contains(o.env, "HANGAR_SANDBOX=docker")
}

// CleanEnv is this process's environment without the variables that would
// point a server or an SDK elsewhere.
func CleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "HANGAR_") || strings.HasPrefix(kv, "ANTHROPIC_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// Stop ends the server with SIGTERM (graceful) and waits for it.
func (s *Server) Stop(t testing.TB) { s.StopWith(t, syscall.SIGTERM) }

// StopWith ends the server with sig (SIGTERM or SIGINT, both graceful) and
// waits for it.
func (s *Server) StopWith(t testing.TB, sig os.Signal) {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
		// A graceful stop exits 0; anything else (a panic on shutdown, the
		// race detector's exit code 66) is a server bug.
		if code := s.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("hangar serve exited with code %d after %v:\n%s", code, sig, s.logs.String())
		}
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		t.Errorf("hangar serve did not stop within 20s of %v", sig)
	}
}

// Kill ends the server with SIGKILL, as a crash would.
func (s *Server) Kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// Exited reports whether the process has ended and its exit code.
func (s *Server) Exited() (bool, int) {
	select {
	case <-s.done:
		return true, s.cmd.ProcessState.ExitCode()
	default:
		return false, 0
	}
}

// Logs returns what the server has printed so far.
func (s *Server) Logs() string { return s.logs.String() }

// Client returns an official SDK client authenticated with key (the admin
// key when empty). Retries are off so tests see each response as sent.
func (s *Server) Client(key string, extra ...option.RequestOption) anthropic.Client {
	if key == "" {
		key = AdminKey
	}
	o := append([]option.RequestOption{option.WithBaseURL(s.URL), option.WithAPIKey(key), option.WithMaxRetries(0)}, extra...)
	return anthropic.NewClient(o...)
}

// SDKHeaders sets on h the version and beta headers the official SDKs
// send on every Managed Agents request, which the server requires.
func SDKHeaders(h http.Header) {
	h.Set("anthropic-version", "2026-10-21")
	h.Set("anthropic-beta", "managed-agents-2026-04-01")
}

// Do sends a raw request with the admin key (for what the SDK cannot send)
// and the SDK's headers; a header in header replaces them, and one given
// as nil leaves it out.
func (s *Server) Do(t testing.TB, method, path string, body io.Reader, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, s.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-api-key", AdminKey)
	SDKHeaders(req.Header)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// CreateKey mints a non-admin API key in workspace with `hangar keys create`
// against the running server's data directory, and returns it.
func (s *Server) CreateKey(t testing.TB, workspace string) string {
	t.Helper()
	cmd := exec.Command(Binary(t), "keys", "create", "--data-dir", s.DataDir, "--workspace", workspace, "--name", "test")
	cmd.Env = CleanEnv()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hangar keys create: %v", err)
	}
	return strings.TrimSpace(string(out))
}
