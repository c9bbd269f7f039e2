// Package client is the Go client of auth-server, the role-based
// authorization server: roles, permissions granted to roles, and users as
// members of roles, kept per tenant, where a tenant is named by a secret
// key.
//
// It uses only the standard library.
//
// # Overview
//
//	c := client.New("http://localhost:4000", os.Getenv("AUTH_KEY"))
//	c.AddRole(ctx, "dancers")
//	c.AddPermission(ctx, "dancers", "dance")
//	w, err := c.AddMembership(ctx, "jack", "dancers")
//	a, err := c.UserHasPermission(ctx, "jack", "dance", client.MinSeq(w.Seq))
//	if a.Result { ... }
//
// A Client is safe for concurrent use; make one per server and key and
// share it. It keeps its connections alive and reuses them (see
// [NewTransport]), so a check costs one round trip on an open connection.
//
// The methods mirror the verbs of the original Python library: [Client.AddRole],
// [Client.DelRole], [Client.HasRole], [Client.Roles], [Client.AddPermission],
// [Client.DelPermission], [Client.HasPermission], [Client.RolePermissions],
// [Client.AddMembership], [Client.DelMembership], [Client.HasMembership],
// [Client.UserHasPermission], [Client.UserPermissions], [Client.UserRoles],
// [Client.RoleMembers], [Client.WhichRolesCan], [Client.WhichUsersCan].
// Beyond them: [Client.Check] answers many checks in one round trip, from
// one state; [Client.Events] pages through the tenant's events (its audit
// trail) and [Client.Watch] follows them as they happen, resuming where it
// left off after a disconnection; [Client.Export] and [Client.Import] move a
// tenant's whole state as JSON lines; [Client.Status] and [Client.Ping] are
// for operators.
//
// # Keys
//
// The key is sent in the "Authorization: Bearer <key>" header of every
// request and nowhere else: never in a URL (which proxies and servers log),
// never in an error. Names (of roles, permissions, users) travel as
// percent-encoded path segments, a '/' inside a name as %2F, so any valid
// name is safe: 1 to 256 bytes of UTF-8 without control characters.
//
// # TLS
//
// An https:// URL is verified against the system's CAs. For a server whose
// certificate comes from a private CA, or one that requires client
// certificates (mutual TLS), pass [WithTLS] a configuration, such as
// [LoadTLS] makes from PEM files:
//
//	cfg, err := client.LoadTLS(client.TLSFiles{CA: "ca.pem", Cert: "me.crt", Key: "me.key"})
//	c := client.New("https://auth.internal:4000", key, client.WithTLS(cfg))
//
// LoadTLS reads a rotated client certificate when its files change.
//
// # Consistency
//
// Every write answers the tenant's seq after it ([Write.Seq]), and every read
// answers the seq of the state it was answered from. A server behind a load
// balancer may be one of several replicas, each applying the same events in
// the same order, a little apart in time. To read your own writes, pass the
// write's seq to the read with [MinSeq]: a replica that has not reached it
// waits for it a short while, then answers 409, which the client returns as
// an error matching [ErrBehind]; retry, on this replica or another.
//
// # Errors
//
// An answer other than 2xx is an [*Error] with the status and the server's
// message. It matches, with [errors.Is], [ErrBadRequest] (400: a bad name,
// key or argument; nothing changed), [ErrUnauthorized] (401: no key),
// [ErrNotFound] (404: no such route, e.g. a server without the /v1 routes),
// [ErrBehind] (409: the replica has not reached MinSeq), [ErrTooLarge] (413)
// and [ErrUnavailable] (502, 503, 504: the store or a proxy could not
// serve it). Other errors are the transport's (connection refused,
// timeouts, the context's end).
//
// A failed write also says what it did, three outcomes never confused:
// [ErrNotApplied] (nothing changed anywhere: a 4xx, or the store refused
// it with 503) and [ErrOutcomeUnknown] (it may have been made: the store
// did not confirm it in time, the connection broke after it was sent; or
// it was made, at [Error.Seq], and only its answer is unknown). Success is
// the third. A write of unknown outcome must be read back, not assumed
// undone.
//
// # Routes
//
// The client speaks the server's /v1 routes only: the key in the
// Authorization header, seqs in answers. The server also keeps the original
// Python server's routes under /api, with the key as the first path segment
// and the original's exact answers, for clients written against it; this
// client does not use them, and so does not work against the original
// Python server. The server describes all of its routes at GET
// /openapi.yaml.
package client
