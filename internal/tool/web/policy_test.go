package web

import (
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/hangarhq/hangar/internal/wire"
)

func TestMatchDomain(t *testing.T) {
	for _, tc := range []struct {
		entry, host, path string
		want              bool
	}{
		{"example.com", "example.com", "/", true},
		{"example.com", "docs.example.com", "/a", true},
		{"Example.COM.", "example.com", "/", true},
		{"example.com", "badexample.com", "/", false},
		{"example.com", "example.com.evil.net", "/", false},
		{"docs.example.com", "example.com", "/", false},
		{"docs.example.com", "api.example.com", "/", false},
		{"*.example.com", "example.com", "/", false},
		{"*.example.com", "a.b.example.com", "/", true},
		{"example.com/blog", "example.com", "/blog", true},
		{"example.com/blog", "example.com", "/blog/post-1", true},
		{"example.com/blog", "example.com", "/blogger", false},
		{"example.com/blog", "example.com", "/", false},
		{"example.com/*/articles", "example.com", "/en/articles/1", true},
		{"example.com/*/articles", "example.com", "/en/news", false},
		{"example.com/a.b", "example.com", "/aXb", false},
		{"", "example.com", "/", false},
	} {
		if got := matchDomain(tc.entry, tc.host, tc.path); got != tc.want {
			t.Errorf("matchDomain(%q, %q, %q) = %v, want %v", tc.entry, tc.host, tc.path, got, tc.want)
		}
	}
}

func TestHostAllowed(t *testing.T) {
	n := wire.Networking{Type: wire.NetworkingLimited, AllowedHosts: []string{"api.example.com", "*.internal.example", "203.0.113.5"}}
	for host, want := range map[string]bool{
		"api.example.com":        true,
		"www.api.example.com":    false, // bare names match exactly
		"example.com":            false,
		"a.internal.example":     true,
		"internal.example":       false,
		"203.0.113.5":            true,
		"::ffff:203.0.113.5":     true,
		"203.0.113.6":            false,
		"pypi.org":               false,
		"files.pythonhosted.org": false,
	} {
		if got := hostAllowed(n, host); got != want {
			t.Errorf("hostAllowed(%q) = %v, want %v", host, got, want)
		}
	}
	n.AllowPackageManagers = true
	if !hostAllowed(n, "pypi.org") || !hostAllowed(n, "registry.npmjs.org") {
		t.Error("allow_package_managers does not open the registries")
	}
}

func TestCheckURLDomains(t *testing.T) {
	p := unrestricted()
	p.Fetch.AllowedDomains = []string{"example.com"}
	for raw, want := range map[string]string{
		"https://docs.example.com/x": "",
		"https://other.org/":         "not in the tool's allowed_domains",
		"mailto:a@example.com":       "only http and https",
		"javascript:alert(1)":        "only http and https",
	} {
		u, _ := url.Parse(raw)
		err := checkURL(p, u)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("checkURL(%s) = %v, want %q", raw, err, want)
		}
	}
	p.Fetch = wire.AgentToolConfig{BlockedDomains: []string{"ads.example.com"}}
	u, _ := url.Parse("http://x.ads.example.com/")
	if err := checkURL(p, u); err == nil || !strings.Contains(err.Error(), "blocked_domains") {
		t.Errorf("blocked subdomain: %v", err)
	}
}

func TestIsInternal(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1": true, "127.8.9.10": true, "10.1.2.3": true, "172.16.0.1": true, "192.168.1.1": true,
		"169.254.169.254": true, "0.0.0.0": true, "0.1.2.3": true, "100.64.0.1": true, "224.0.0.1": true,
		"255.255.255.255": true, "198.18.0.1": true, "::1": true, "::": true, "fe80::1": true, "fc00::1": true,
		"fd12::1": true, "::ffff:127.0.0.1": true, "::ffff:10.0.0.1": true, "64:ff9b::a00:1": true, "2002:a00:1::": true,
		"ff02::1": true,
		"8.8.8.8": false, "203.0.113.10": false, "2606:4700::1111": false, "172.32.0.1": false, "100.128.0.1": false,
	} {
		if got := isInternal(netip.MustParseAddr(addr)); got != want {
			t.Errorf("isInternal(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestParseInternalAllowlist(t *testing.T) {
	l, err := ParseInternalAllowlist(" 127.0.0.1, 10.0.0.0/8 ,Searx.LAN.,, ::1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host, addr string
		want       bool
	}{
		{"x", "127.0.0.1", true},
		{"x", "127.0.0.2", false},
		{"x", "10.9.9.9", true},
		{"searx.lan", "192.168.0.5", true},
		{"x", "::1", true},
		{"x", "::ffff:127.0.0.1", true},
	} {
		if got := l.allows(tc.host, netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("allows(%s, %s) = %v", tc.host, tc.addr, got)
		}
	}
	for _, bad := range []string{"http://x", "*.lan", "a b"} {
		if _, err := ParseInternalAllowlist(bad); err == nil {
			t.Errorf("ParseInternalAllowlist(%q) accepted", bad)
		}
	}
}

func TestHTMLToText(t *testing.T) {
	base, _ := url.Parse("https://site.test/dir/page")
	for _, tc := range []struct{ name, in, text, title string }{
		{"plain", "just text", "just text", ""},
		{"entities", "<p>a &lt;b&gt; &#x41;&nbsp;c</p>", "a <b> A c", ""},
		{"whitespace", "<div>  a \n\n b  </div><div>c</div>", "a b\nc", ""},
		{"skip", "<script>x<y</script><STYLE>s</STYLE><noscript>n</noscript><template>t</template>ok", "ok", ""},
		{"script with tags inside", "<script>document.write('</div>')</script>after", "after", ""},
		{"unterminated script", "before<script>forever", "before", ""},
		{"title", "<title>T &amp; U</title><p>body</p>", "body", "T & U"},
		{"headings", "<h2>Sub</h2>text", "## Sub\n\ntext", ""},
		{"lists", "<ol><li>a</li><li>b</li></ol>", "- a\n- b", ""},
		{"br", "a<br>b<br/>c", "a\nb\nc", ""},
		{"links", `<a href="other">rel</a> <a href="#top">anchor</a> <a href='javascript:x'>js</a>`, "rel (https://site.test/dir/other) anchor js", ""},
		{"image alt", `<img src=x alt="a cat">`, "[image: a cat]", ""},
		{"pre", "<pre>  keep\n    this</pre>after", "keep\n    this\n\nafter", ""},
		{"comments", "a<!-- <p>hidden</p> -->b<!doctype html><?xml x?>c", "abc", ""},
		{"stray lt", "1 < 2 and 3 <4", "1 < 2 and 3 <4", ""},
		{"unterminated comment", "a<!-- never", "a", ""},
		{"unterminated tag", `a<div class="x`, "a", ""},
		{"quoted gt", `<a title="x>y" href="/q">z</a>`, "z (https://site.test/q)", ""},
		{"table", "<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "a b\nc", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text, title := htmlToText(tc.in, base)
			if text != tc.text || title != tc.title {
				t.Fatalf("htmlToText(%q) = %q, %q; want %q, %q", tc.in, text, title, tc.text, tc.title)
			}
		})
	}
}
