package netpolicy

import (
	"testing"

	"github.com/hangarhq/hangar/internal/wire"
)

// allowed_hosts entries, wildcards and the two flags.
func TestAllowed(t *testing.T) {
	n := wire.Networking{Type: wire.NetworkingLimited, AllowedHosts: []string{"API.example.com.", "*.wild.test", "203.0.113.5", "*."}}
	mcp := []string{"Mcp.Example.net"}
	for _, tc := range []struct {
		host         string
		pkg, mcpFlag bool
		want         bool
	}{
		{"api.example.com", false, false, true},
		{"x.api.example.com", false, false, false},
		{"a.wild.test", false, false, true},
		{"wild.test", false, false, false},
		{"xwild.test", false, false, false},
		{"::ffff:203.0.113.5", false, false, true},
		{"pypi.org", false, false, false},
		{"pypi.org", true, false, true},
		{"deb.debian.org", true, false, true},
		{"mcp.example.net", false, false, false},
		{"mcp.example.net", false, true, true},
		{"", true, true, false},
	} {
		n.AllowPackageManagers, n.AllowMCPServers = tc.pkg, tc.mcpFlag
		if got := Allowed(n, tc.host, mcp); got != tc.want {
			t.Errorf("Allowed(%q, pkg=%v, mcp=%v) = %v, want %v", tc.host, tc.pkg, tc.mcpFlag, got, tc.want)
		}
	}
	if !Allowed(wire.Networking{Type: wire.NetworkingUnrestricted}, "anything.test", nil) {
		t.Error("unrestricted denied a host")
	}
	if Allowed(wire.Networking{}, "anything.test", nil) {
		t.Error("an empty networking type must fail closed")
	}
}

func FuzzMatchHost(f *testing.F) {
	f.Add("*.example.com", "a.example.com")
	f.Add("1.2.3.4", "::ffff:1.2.3.4")
	f.Fuzz(func(t *testing.T, entry, host string) {
		if MatchHost(entry, NormHost(host)) && NormHost(entry) == "" {
			t.Fatalf("empty entry %q matched %q", entry, host)
		}
	})
}
