package bus

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"

	"github.com/nats-io/nats.go"
)

// macHeader is the NATS header that carries a message's HMAC.
const macHeader = "Auth-Mac"

// macSize is the length of an HMAC-SHA256.
const macSize = sha256.Size

// signer signs and verifies bus messages with the cluster's secrets: the
// first signs, and any of them verifies, so that a secret can be rotated
// one replica at a time (add the new one second, then first everywhere,
// then drop the old one).
type signer struct {
	secrets [][]byte
}

func newSigner(secrets [][]byte) (*signer, error) {
	if len(secrets) == 0 {
		return nil, nil
	}
	for _, s := range secrets {
		if len(s) < minSecret {
			return nil, errMinSecret
		}
	}
	return &signer{secrets: secrets}, nil
}

// minSecret is the shortest secret taken: 16 bytes, 128 bits if random.
const minSecret = 16

var errMinSecret = errors.New("bus: a cluster secret must be at least 16 bytes")

// mac computes the HMAC of a message under secret: over its subject and its
// data, so that a message signed for one subject (a digest, one tenant's
// events) cannot be replayed on another.
func mac(secret []byte, subject string, data []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(subject))
	h.Write([]byte{0})
	h.Write(data)
	return h.Sum(nil)
}

// sign returns the message to publish: data with its HMAC in a header, or
// bare without a signer.
func (s *signer) sign(subject string, data []byte) *nats.Msg {
	m := &nats.Msg{Subject: subject, Data: data}
	if s != nil {
		m.Header = nats.Header{macHeader: {base64.RawStdEncoding.EncodeToString(mac(s.secrets[0], subject, data))}}
	}
	return m
}

// verify reports whether m carries a valid HMAC under one of the secrets;
// without a signer every message is taken.
func (s *signer) verify(m *nats.Msg) bool {
	if s == nil {
		return true
	}
	if m.Header == nil {
		return false
	}
	got, err := base64.RawStdEncoding.DecodeString(m.Header.Get(macHeader))
	if err != nil || len(got) != macSize {
		return false
	}
	for _, secret := range s.secrets {
		if hmac.Equal(got, mac(secret, m.Subject, m.Data)) {
			return true
		}
	}
	return false
}
