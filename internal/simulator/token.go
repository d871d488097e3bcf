package simulator

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/fnv"
)

// A page token names a snapshot version and an offset into its session
// list. It carries a check value derived from the seed so that a token from
// another simulator, or a hand-edited one, is refused rather than
// silently served from the wrong place. Tokens are deterministic for a seed,
// which keeps whole responses byte-identical across runs.

const tokenLen = 8 + 8 + 4

var tokenEncoding = base64.RawURLEncoding.Strict()

var errBadToken = errors.New("invalid page_token")

func encodeToken(seed int64, version, offset uint64) string {
	var raw [tokenLen]byte
	binary.BigEndian.PutUint64(raw[0:8], version)
	binary.BigEndian.PutUint64(raw[8:16], offset)
	binary.BigEndian.PutUint32(raw[16:20], tokenCheck(seed, raw[:16]))
	return tokenEncoding.EncodeToString(raw[:])
}

// decodeToken returns the version and offset of a token made by encodeToken
// with the same seed; any other string is errBadToken.
func decodeToken(seed int64, tok string) (version, offset uint64, err error) {
	if len(tok) != tokenEncoding.EncodedLen(tokenLen) {
		return 0, 0, errBadToken
	}
	raw, err := tokenEncoding.DecodeString(tok)
	if err != nil || len(raw) != tokenLen {
		return 0, 0, errBadToken
	}
	if binary.BigEndian.Uint32(raw[16:20]) != tokenCheck(seed, raw[:16]) {
		return 0, 0, errBadToken
	}
	return binary.BigEndian.Uint64(raw[0:8]), binary.BigEndian.Uint64(raw[8:16]), nil
}

func tokenCheck(seed int64, body []byte) uint32 {
	h := fnv.New64a()
	var sb [8]byte
	binary.BigEndian.PutUint64(sb[:], uint64(seed))
	h.Write([]byte("license-simulator page token"))
	h.Write(sb[:])
	h.Write(body)
	s := h.Sum64()
	return uint32(s ^ s>>32)
}
