// Package egress owns the egress proxy: the HTTP forward proxy, run by the
// server outside every sandbox, through which a sandbox's network traffic
// leaves.
//
// One Proxy serves many sessions; each session gets its own listener, so
// the listener a connection arrives on identifies the session without any
// credential the sandbox could leak or forge. A listener is a TCP loopback
// port or, when Options.SocketDir is set, a Unix socket. The Unix socket is
// the intended production path: it is bind-mounted into the sandbox, which
// can reach it even with network "none"; the sandbox agent's forwarder
// (sandbox/agent, forward.go) listens on 127.0.0.1:<port> inside the
// sandbox's network namespace, relays each connection to the socket, and
// HTTP_PROXY/HTTPS_PROXY point at it. With no other route out, tools that
// ignore the proxy variables cannot get out at all.
//
// Policy: unrestricted allows every destination; limited denies by default
// and allows allowed_hosts (with "*." wildcards), the package registries
// when allow_package_managers, and the agent's MCP server hosts when
// allow_mcp_servers (netpolicy owns the matching, shared with web_fetch).
// A denied request gets 403 and a plain-text body the agent can read, for
// CONNECT too. Internal addresses (loopback, private, link-local, ...) are
// refused at connect time unless Options.AllowInternal lists them, so
// neither a policy entry nor DNS rebinding can point a sandbox at the
// server's own ports or the cloud metadata service.
//
// environment_variable credentials: the sandbox sees only an opaque
// per-session placeholder (Session.Placeholder). Plain HTTP requests to a
// host the credential allows get the placeholder replaced by the secret in
// the enabled locations (headers, including inside Basic auth, and/or the
// body). HTTPS to such a host is intercepted: the proxy terminates TLS with
// a leaf certificate minted on the fly by a per-session ECDSA CA, which only
// that sandbox trusts (Session.CAPEM), substitutes, and forwards over a
// fresh TLS connection verified against the system roots. HTTPS to hosts
// without a credential is tunnelled blindly, never decrypted. A placeholder
// sent to a host the credential does not allow goes out unreplaced.
// Responses from hosts that received a secret are
// scrubbed of it (secret → placeholder) so an echoing endpoint cannot carry
// it back into the sandbox; to make that possible the proxy asks those
// hosts for uncompressed responses.
//
// github_repository resources (repo.go): requests under a repository's
// path on its origin get its token as Basic auth (Bearer for GitHub REST
// calls about it), HTTPS to its origin is intercepted, its paths are
// allowed whatever the policy, and the token is read per request so a
// rotation applies at once. PrivateListener serves a session to the
// server's own host-side git clone behind one-time proxy credentials.
//
// Session.Update swaps a session's policy and credentials whole; the
// server calls it when the sandbox starts and again whenever a committed
// change (a rotated or archived credential, new networking) affects the
// session, so the next request follows it. The server's own requests for
// a session (web_fetch) come in over Session.Dial, an in-process
// connection: same policy and guard, never substituted into or
// intercepted (inprocess.go).
//
// Not handled: substitution in URLs (injection_location has only header
// and body), in compressed request bodies, in HTTP/2 or WebSocket frames
// after an upgrade (the client-side of an intercepted connection speaks
// HTTP/1.1 only), and clients that pin certificates or ignore the CA.
package egress
