// Package ids mints object identifiers: a type prefix, then "01" and 22
// base58 characters encoding a millisecond timestamp and randomness, so ids
// sort by creation time and look like the official service's. Ids minted
// by one process are strictly increasing, also within one millisecond.
package ids

import (
	"crypto/rand"
	"encoding/binary"
	"math/big"
	"math/bits"
	"sync"
	"time"
)

const alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// Prefixes of every object kind Hangar mints.
const (
	Agent        = "agent_"
	Environment  = "env_"
	Session      = "sesn_"
	Event        = "sevt_"
	Resource     = "sesrsc_"
	Thread       = "sthr_"
	Vault        = "vlt_"
	Credential   = "vcrd_"
	File         = "file_"
	Skill        = "skill_"
	SkillVersion = "skillver_"
	Work         = "work_"
	MemoryStore  = "memstore_"
	Memory       = "mem_"
	MemoryVer    = "memver_"
	Dream        = "drm_"
	Outcome      = "outc_"
	Deployment   = "depl_"
	DeployRun    = "drun_"
	Request      = "req_"
	APIKey       = "apikey_"
	Workspace    = "wrkspc_"
)

var base = big.NewInt(58)

// last is the value of the id minted last, as two big-endian halves.
var last struct {
	sync.Mutex
	hi, lo uint64
}

// New returns prefix + "01" + 22 sortable base58 characters.
func New(prefix string) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixMilli())<<16)
	_, _ = rand.Read(b[6:])
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	last.Lock()
	if hi < last.hi || hi == last.hi && lo <= last.lo {
		// Random bits alone would order ids of one millisecond (or of a
		// clock that stepped back) at random, unlike the log they are
		// appended to: step past the last id instead, by a random amount
		// so that the next id is still not guessable from this one.
		var c uint64
		lo, c = bits.Add64(last.lo, uint64(binary.BigEndian.Uint32(b[12:]))+1, 0)
		hi = last.hi + c
	}
	last.hi, last.lo = hi, lo
	last.Unlock()
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	n := new(big.Int).SetBytes(b[:])
	out := make([]byte, 22)
	m := new(big.Int)
	for i := len(out) - 1; i >= 0; i-- {
		n.DivMod(n, base, m)
		out[i] = alphabet[m.Int64()]
	}
	return prefix + "01" + string(out)
}

// Random returns n random base58 characters (for secrets and keys).
func Random(n int) string {
	out := make([]byte, 0, n)
	buf := make([]byte, n+8)
	for len(out) < n {
		_, _ = rand.Read(buf)
		for _, c := range buf {
			// Reject the top of the byte range so every character is equally likely.
			if int(c) < 4*len(alphabet) && len(out) < n {
				out = append(out, alphabet[int(c)%len(alphabet)])
			}
		}
	}
	return string(out)
}
