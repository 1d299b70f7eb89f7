package sessionres

import (
	"errors"
	"strings"
	"testing"

	"github.com/hangarhq/hangar/internal/wire"
)

// A failed clone's type comes from git's output.
func TestClassifyClone(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&gitError{sub: "clone", out: "fatal: could not read Username for 'https://github.com': terminal prompts disabled"}, wire.ErrRepositoryAuthentication},
		{&gitError{sub: "clone", out: "fatal: unable to access 'https://h/o/r.git/': The requested URL returned error: 401"}, wire.ErrRepositoryAuthentication},
		{&gitError{sub: "clone", out: "fatal: Authentication failed for 'https://h/o/r.git/'"}, wire.ErrRepositoryAuthentication},
		{&gitError{sub: "clone", out: "fatal: unable to access 'https://h/o/r.git/': The requested URL returned error: 403"}, wire.ErrRepositoryForbidden},
		{&gitError{sub: "clone", out: "fatal: unable to access 'https://h/o/r.git/': Received HTTP code 403 from proxy after CONNECT"}, wire.ErrRepositoryForbidden},
		{&gitError{sub: "clone", out: "remote: Repository not found.\nfatal: repository 'https://h/o/r.git/' not found"}, wire.ErrRepositoryNotFound},
		{&gitError{sub: "clone", out: "fatal: unable to access 'https://h/o/r.git/': The requested URL returned error: 404"}, wire.ErrRepositoryNotFound},
		{&gitError{sub: "clone", out: "warning: Could not find remote branch nope to clone.\nfatal: Remote branch nope not found in upstream origin"}, wire.ErrRepositoryCheckout},
		{&checkoutError{&gitError{sub: "fetch", out: "fatal: remote error: upload-pack: not our ref 0123"}}, wire.ErrRepositoryCheckout},
		{&gitError{sub: "clone", out: "fatal: unable to access 'https://h/': Could not resolve host: h"}, wire.ErrRepositoryClone},
		{errors.New("no egress proxy to clone through"), wire.ErrRepositoryClone},
	} {
		if got := classifyClone(c.err); got != c.want {
			t.Errorf("%v: %s, want %s", c.err, got, c.want)
		}
	}
}

// Neither the token nor URL credentials reach the
// session.error; repository_url is the URL without credentials; retrying.
func TestRepoSessionErrorScrubs(t *testing.T) {
	const tok = "ghs_SECRET-abc"
	r := wire.SessionResource{ID: "sesrsc_1", URL: "https://user:" + tok + "@github.com/o/r", MountPath: "/workspace/r"}
	err := &gitError{sub: "clone", err: errors.New("exit status 128"), out: "fatal: Authentication failed for 'https://x-access-token:" + tok + "@github.com/o/r/' (token " + tok + ")\nproxy http://p:one-time@127.0.0.1:1"}
	se := repoSessionError(r, err, tok)
	if se.Type != wire.ErrRepositoryAuthentication || se.RetryStatus != wire.RetryRetrying || se.RepositoryURL == nil || *se.RepositoryURL != "https://github.com/o/r" {
		t.Fatalf("%+v", se)
	}
	for _, bad := range []string{tok, "x-access-token", "one-time", "user:"} {
		if strings.Contains(se.Message, bad) {
			t.Fatalf("message carries %q: %s", bad, se.Message)
		}
	}
	if !strings.Contains(se.Message, "sesrsc_1") || !strings.Contains(se.Message, "continues without it") {
		t.Fatalf("message = %s", se.Message)
	}
}

// A failed repository restarts the sandbox (mountKey changes) only once
// the resource was updated after the failed attempt, and not again once
// the start that retries it began.
func TestRepoRetryKey(t *testing.T) {
	r := wire.SessionResource{Type: wire.ResourceGitHubRepository, ID: "sesrsc_retry_test", UpdatedAt: wire.Now()}
	x := &Resources{}
	base := x.mountKey([]wire.SessionResource{r})
	x.repos.failed("sesn_retry_test", r)
	if x.mountKey([]wire.SessionResource{r}) != base {
		t.Fatal("a failure alone changed the key")
	}
	u := r
	u.UpdatedAt = r.UpdatedAt.Add(1)
	if x.mountKey([]wire.SessionResource{u}) == base {
		t.Fatal("an update after the failure did not change the key")
	}
	x.repos.attempt("sesn_retry_test", u)
	if x.mountKey([]wire.SessionResource{u}) != base {
		t.Fatal("the retrying start's key differs")
	}
	x.repos.cloned(u.ID)
	if x.mountKey([]wire.SessionResource{u}) != base {
		t.Fatal("a cloned repository changed the key")
	}
}

// A git command's output is kept up to gitOutputLimit; the rest is dropped
// without failing the command's writes.
func TestGitOutputBounded(t *testing.T) {
	h := &headBuffer{n: 10}
	for _, s := range []string{"12345", "67890abc", "def"} {
		if n, err := h.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if h.String() != "1234567890" {
		t.Errorf("kept %q", h.String())
	}
}
