package simulator

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/license-monitor/license-monitor/source/csi"
)

// license is one purchased pool of seats. Immutable after New.
type license struct {
	id, product, edition, version, typ string
	prod                               int // index into products
	rank                               int // edition level: higher is better
	seats                              int64
	expires                            *string // RFC 3339; nil: perpetual
	owner                              int     // standalone: the load-model user whose machine it is; else -1
}

// user is one person of the account. Immutable after New.
type user struct {
	email, name, host, laptop string
	primary, secondary        int  // product indexes (demo load model)
	minRank                   int  // lowest edition level the user's work needs
	exact                     bool // their license group starts at their own level
}

type product struct {
	name   string
	weight float64 // share of users whose main tool it is (demo)
	second int     // the product such a user also opens now and then
}

var products = []product{
	prodETABS:     {"ETABS", 0.45, prodSAFE},
	prodSAP2000:   {"SAP2000", 0.25, prodCSiBridge},
	prodSAFE:      {"SAFE", 0.10, prodETABS},
	prodCSiBridge: {"CSiBridge", 0.08, prodSAP2000},
	prodCSiCol:    {"CSiCol", 0.05, prodETABS},
	prodPerform3D: {"Perform3D", 0.07, prodETABS},
}

const (
	prodETABS = iota
	prodSAP2000
	prodSAFE
	prodCSiBridge
	prodCSiCol
	prodPerform3D
)

var editionRank = map[string]int{"": 0, "Basic": 1, "Standard": 1, "Plus": 2, "Ultimate": 3, "Advanced": 3}

var editionAbbrev = map[string]string{"Basic": "BAS", "Standard": "STD", "Plus": "PLS", "Ultimate": "ULT", "Advanced": "ADV"}

// account is the static part of the simulated world.
type account struct {
	id, name string
	licenses []license
	users    []user
	byID     map[string]int // license id -> index
}

func (a *account) index() {
	a.byID = make(map[string]int, len(a.licenses))
	for i, l := range a.licenses {
		if _, dup := a.byID[l.id]; dup {
			panic("simulator: duplicate license id " + l.id)
		}
		a.byID[l.id] = i
	}
}

var firstNames = []string{
	"Ada", "Ahmed", "Aiko", "Alejandro", "Amara", "Anders", "Ananya", "Beatriz", "Camille", "Chen",
	"Dmitri", "Elena", "Emeka", "Farah", "Giulia", "Hana", "Ibrahim", "Ingrid", "Jamal", "Jana",
	"Kenji", "Lars", "Leila", "Lucas", "Maya", "Mateo", "Mei", "Nadia", "Nikos", "Olga",
	"Omar", "Priya", "Rafael", "Rosa", "Sanjay", "Sofia", "Tariq", "Thomas", "Yara", "Zoe",
}

var lastNames = []string{
	"Abbott", "Bauer", "Castillo", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ivanova", "Jensen",
	"Kowalski", "Larsen", "Moreau", "Nakamura", "Okafor", "Petrov", "Quinn", "Rossi", "Santos", "Tanaka",
	"Umarov", "Vasquez", "Weber", "Xu", "Yilmaz", "Zhang", "Andersson", "Brennan", "Costa", "Demir",
	"Engel", "Ferreira", "Gupta", "Hoffmann", "Ito", "Jovanovic", "Kim", "Lindqvist", "Mendes", "Novak",
}

func personName(i int) (email, display string) {
	f := firstNames[i%len(firstNames)]
	l := lastNames[(i/len(firstNames))%len(lastNames)]
	email = lower(f) + "." + lower(l)
	if n := i / (len(firstNames) * len(lastNames)); n > 0 {
		email += fmt.Sprint(n)
	}
	return email + "@acme.example", f + " " + l
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func day(start time.Time, days int) *string {
	d := start.UTC().Truncate(24*time.Hour).AddDate(0, 0, days)
	return csi.String(d.Format(time.RFC3339))
}

// Demo account: the license table. Expiry in days after the start date; -1 perpetual.
var demoLicenses = []struct {
	id, product, edition, version, typ string
	seats                              int64
	expires                            int
}{
	{"L-ETABS-ULT-1", "ETABS", "Ultimate", "22", csi.TypeCloudSignIn, 7, 300},
	{"L-ETABS-ULT-2", "ETABS", "Ultimate", "22", csi.TypeCloudKey, 3, 45},
	{"L-ETABS-PLS-1", "ETABS", "Plus", "22", csi.TypeCloudSignIn, 5, 180},
	{"L-ETABS-STD-1", "ETABS", "Standard", "21", csi.TypeNetwork, 4, 120},
	{"L-ETABS-STD-2", "ETABS", "Standard", "20", csi.TypeStandalone, 1, -1},
	{"L-SAP2000-ULT-1", "SAP2000", "Ultimate", "26", csi.TypeCloudSignIn, 5, 365},
	{"L-SAP2000-PLS-1", "SAP2000", "Plus", "26", csi.TypeCloudKey, 4, 21},
	{"L-SAP2000-BAS-1", "SAP2000", "Basic", "25", csi.TypeNetwork, 3, 240},
	{"L-SAP2000-BAS-2", "SAP2000", "Basic", "24", csi.TypeStandalone, 1, -1},
	{"L-SAFE-1", "SAFE", "", "22", csi.TypeCloudSignIn, 4, 90},
	{"L-SAFE-2", "SAFE", "", "22", csi.TypeCloudKey, 2, 150},
	{"L-CSIBRIDGE-ADV-1", "CSiBridge", "Advanced", "26", csi.TypeCloudSignIn, 2, 330},
	{"L-CSIBRIDGE-PLS-1", "CSiBridge", "Plus", "26", csi.TypeNetwork, 2, 60},
	{"L-CSICOL-1", "CSiCol", "", "11", csi.TypeCloudSignIn, 2, 200},
	{"L-PERFORM3D-1", "Perform3D", "", "10", csi.TypeStandalone, 1, -1},
	{"L-PERFORM3D-2", "Perform3D", "", "10", csi.TypeCloudKey, 1, 270},
}

const demoUsers = 60

// The users and licenses of the pinned demo sessions (see the package doc).
const (
	BobUser         = "bob@acme.example"
	BobHost         = "WS-BOB"
	CarolUser       = "carol@acme.example"
	CarolHost       = "WS-CAROL"
	bobSignInLic    = "L-ETABS-ULT-1"
	bobCheckoutLic  = "L-ETABS-ULT-2"
	carolSignInLic  = "L-SAP2000-ULT-1"
	bobCheckoutHost = "LT-BOB"
)

func productIndex(name string) int {
	for i, p := range products {
		if p.name == name {
			return i
		}
	}
	panic("simulator: unknown product " + name)
}

func newDemoAccount(rng *rand.Rand, start time.Time) *account {
	a := &account{id: "A-1001", name: "Acme Engineering"}
	for _, d := range demoLicenses {
		l := license{id: d.id, product: d.product, edition: d.edition, version: d.version, typ: d.typ,
			prod: productIndex(d.product), rank: editionRank[d.edition], seats: d.seats, owner: -1}
		if d.expires >= 0 {
			l.expires = day(start, d.expires)
		}
		a.licenses = append(a.licenses, l)
	}
	// Distinct names and desk numbers drawn from the seed; the mix of
	// products and levels is fixed so every seed has the same peak load.
	names := rng.Perm(len(firstNames) * len(lastNames))[:demoUsers]
	desks := rng.Perm(150)[:demoUsers]
	weights := make([]float64, len(products))
	for i, p := range products {
		weights[i] = p.weight
	}
	var roles []user
	for p, n := range apportion(demoUsers, weights) {
		for k := range n {
			roles = append(roles, user{primary: p, secondary: products[p].second, minRank: 3 - k%3, exact: k%2 == 1})
		}
	}
	rng.Shuffle(len(roles), func(i, j int) { roles[i], roles[j] = roles[j], roles[i] })
	for i, u := range roles {
		u.email, u.name = personName(names[i])
		u.host = fmt.Sprintf("WS-%03d", desks[i]+1)
		u.laptop = fmt.Sprintf("LT-%03d", desks[i]+1)
		a.users = append(a.users, u)
	}
	// Each standalone license sits on the desk of one user of its product.
	for i := range a.licenses {
		l := &a.licenses[i]
		if l.typ != csi.TypeStandalone {
			continue
		}
		for _, j := range rng.Perm(len(a.users)) {
			if a.users[j].primary == l.prod && !ownsStandalone(a, j) {
				l.owner = j
				break
			}
		}
	}
	a.index()
	return a
}

func ownsStandalone(a *account, u int) bool {
	for _, l := range a.licenses {
		if l.owner == u {
			return true
		}
	}
	return false
}

// tierSpec gives the exact sizes of a benchmark tier.
type tierSpec struct{ licenses, sessions, users int }

var tierSpecs = map[Tier]tierSpec{
	TierSmall: {12, 60, 60},
	TierLarge: {500, 20_000, 10_000},
	TierHuge:  {2_000, 200_000, 100_000},
}

// The product/edition/type mix the tiers cycle through; the first twelve
// cover every product and every license type, so even small has them all.
var tierMix = []struct {
	product, edition, version, typ string
}{
	{"ETABS", "Ultimate", "22", csi.TypeCloudSignIn},
	{"ETABS", "Plus", "22", csi.TypeCloudKey},
	{"SAP2000", "Ultimate", "26", csi.TypeCloudSignIn},
	{"ETABS", "Standard", "21", csi.TypeNetwork},
	{"SAFE", "", "22", csi.TypeCloudSignIn},
	{"SAP2000", "Plus", "26", csi.TypeCloudKey},
	{"CSiBridge", "Advanced", "26", csi.TypeCloudSignIn},
	{"SAP2000", "Basic", "24", csi.TypeStandalone},
	{"ETABS", "Ultimate", "22", csi.TypeCloudKey},
	{"CSiCol", "", "11", csi.TypeCloudSignIn},
	{"Perform3D", "", "10", csi.TypeNetwork},
	{"CSiBridge", "Plus", "26", csi.TypeCloudKey},
	{"SAFE", "", "22", csi.TypeNetwork},
	{"ETABS", "Plus", "22", csi.TypeCloudSignIn},
	{"ETABS", "Standard", "20", csi.TypeStandalone},
	{"SAP2000", "Basic", "25", csi.TypeNetwork},
}

// newTierAccount builds the licenses and users of a tier and returns, for
// each license, how many sessions it starts with.
func newTierAccount(rng *rand.Rand, start time.Time, spec tierSpec) (*account, []int) {
	a := &account{id: "A-1001", name: "Acme Engineering"}
	perPrefix := map[string]int{}
	weights := make([]float64, spec.licenses)
	for i := range spec.licenses {
		m := tierMix[i%len(tierMix)]
		prefix := "L-" + upper(m.product)
		if ab := editionAbbrev[m.edition]; ab != "" {
			prefix += "-" + ab
		}
		perPrefix[prefix]++
		l := license{id: fmt.Sprintf("%s-%d", prefix, perPrefix[prefix]), product: m.product, edition: m.edition,
			version: m.version, typ: m.typ, prod: productIndex(m.product), rank: editionRank[m.edition], owner: -1}
		if rng.IntN(10) > 0 {
			l.expires = day(start, 14+rng.IntN(352))
		}
		a.licenses = append(a.licenses, l)
		weights[i] = 0.5 + rng.Float64()
		if m.typ == csi.TypeStandalone {
			weights[i] *= 0.1
		}
	}
	counts := apportion(spec.sessions, weights)
	for i := range a.licenses {
		c := int64(counts[i])
		a.licenses[i].seats = c + rng.Int64N(c/5+2)
	}
	for i := range spec.users {
		email, display := personName(i)
		a.users = append(a.users, user{email: email, name: display,
			host: fmt.Sprintf("WS-%06d", i+1), laptop: fmt.Sprintf("LT-%06d", i+1),
			primary: -1, secondary: -1})
	}
	a.index()
	return a, counts
}

// apportion splits total into integer parts proportional to w (largest remainder).
func apportion(total int, w []float64) []int {
	sum := 0.0
	for _, x := range w {
		sum += x
	}
	out := make([]int, len(w))
	rem := make([]float64, len(w))
	given := 0
	for i, x := range w {
		exact := float64(total) * x / sum
		out[i] = int(exact)
		rem[i] = exact - float64(out[i])
		given += out[i]
	}
	for given < total {
		best := 0
		for i := range rem {
			if rem[i] > rem[best] {
				best = i
			}
		}
		out[best]++
		rem[best] = -1
		given++
	}
	return out
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}
