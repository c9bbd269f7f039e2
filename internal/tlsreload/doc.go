// Package tlsreload serves TLS from certificate and key files that change
// while the server runs: a rotating issuer (cert-manager, an ACME client)
// replaces them, and the next handshake is made with the new certificate,
// without a restart and without failing a connection.
//
// A [Reloader] holds the certificate it serves and, with client
// certificates on, the pool of CAs it accepts them from. Its [tls.Config]
// (TLS 1.2 and up, Go's default cipher suites) asks the Reloader at each
// handshake, so a reload takes effect for every new connection at once;
// connections already open keep the certificate they were made with.
//
// # When files are read again
//
// [Reloader.Run] looks at the files every Config.Poll (1 s): their size,
// modification time and identity (inode), which catches an in-place write
// as well as a new file renamed over the old one or a Kubernetes secret
// volume swapping its symlink. [Reloader.Reload] reads them at once (the
// command calls it on SIGHUP).
//
// A pair that does not load (unreadable, not PEM, a key that is not the
// certificate's, a certificate already expired, a CA file without a
// certificate) is refused and the previous pair is kept, so a bad
// rotation never takes the server off the air. An issuer may replace the
// certificate and the key one after the other; a poll may fall between the
// two and see a certificate with the old key. Such a failure is retried at
// the next poll and logged only if the files are still the same and still
// do not load, so a rotation in two steps is not reported as an error.
// A reload asked for by Reload is logged whichever way it goes.
//
// Logs name files, subjects, names, validity and the certificate's SHA-256
// fingerprint: never key material. Error messages come from crypto/tls and
// crypto/x509, which do not quote the bytes they failed to parse.
//
// # Listener
//
// [Reloader.Listener] wraps a TCP listener. The handshake happens on the
// connection's first read or write, so it runs on the server's goroutine
// for that connection, bounded by the server's read timeout, never in the
// accept loop; and connection caps placed above the listener count a
// connection while it is in its handshake. A write before any read (a
// server refusing a connection at a cap answers it at once) would run the
// handshake without a read deadline and wait for a client that never
// speaks; the listener's connections therefore make a write deadline set
// before the handshake bound the handshake's reads too.
package tlsreload
