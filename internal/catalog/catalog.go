// Package catalog is the list of utilities gridlink knows: their permanent
// numeric ids, slugs, display names, search aliases and the key of the
// connector that reaches each (empty when none does yet).
//
// Ids are part of the public API (GET /users returns utility.id, connect
// tokens accept utility_id) and are permanent: an id, once assigned, always
// names the same utility. New utilities get the next free id at the end of
// the table in defaults.go; nothing is ever renumbered or reused.
package catalog

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/gridlink/gridlink"
)

// Connector keys used by the default catalogue. cmd/gridlink maps them to
// connector implementations in its registry.
const (
	// ConnectorPelmSandbox reaches "Pacific Gas and Electric" as Pelm's
	// sandbox did: only user@pelm.com / password logs in.
	ConnectorPelmSandbox = "pelm-sandbox"
	// ConnectorSandbox reaches the "gridlink Sandbox" utility and its
	// scenario logins.
	ConnectorSandbox = "sandbox"
	// ConnectorDemoPower reaches "Demo Power & Light", the demo utility
	// website of `gridlink demo-utility`, through its portal connector
	// (the same key as demopower.Key). Registered only when a demo
	// utility is running (gridlink dev, serve --demo-utility-url).
	ConnectorDemoPower = "demo-power"
	// ConnectorDemoGreenButton reaches "Demo Green Button Utility", the
	// local ESPI data custodian of `gridlink dev` (package espicustodian),
	// through the Green Button Connect My Data connector (OAuth).
	// Registered only by gridlink dev.
	ConnectorDemoGreenButton = "demo-greenbutton"
)

// Well-known ids and slugs of the default catalogue.
const (
	// PGEID is the id of Pacific Gas and Electric, as in Pelm's API.
	PGEID int64 = 1
	// PGESlug is the slug of Pacific Gas and Electric.
	PGESlug = "pge"
	// SandboxID is the id of the "gridlink Sandbox" utility. It is set far
	// above the real utilities (ids 1..N, assigned in order) so that the
	// catalogue can grow without ever colliding with it.
	SandboxID int64 = 1000
	// SandboxSlug is the slug of the "gridlink Sandbox" utility.
	SandboxSlug = "sandbox"
)

// Catalog is an immutable set of utilities. The zero value is empty; build
// one with New or Default. It is safe for concurrent use.
type Catalog struct {
	entries []entry // ordered by name (case-insensitive), then id
	byID    map[int64]int
	bySlug  map[string]int
}

type entry struct {
	u gridlink.Utility
	// keys are the compact search forms (lower case, letters and digits
	// only) of the name, the slug and every alias.
	keys []string
	// lower are the plain lower-case name, slug and aliases.
	lower []string
}

// New returns a catalogue of the given utilities (searchable by name and
// slug). Ids must be positive and unique; slugs must be unique, non-empty
// and made of lower-case letters, digits and dashes; names must be set.
func New(utilities []gridlink.Utility) (*Catalog, error) {
	ds := make([]def, len(utilities))
	for i, u := range utilities {
		ds[i] = def{u.ID, u.Slug, u.Name, u.Connector, nil}
	}
	return build(ds)
}

// def is one row of a catalogue table.
type def struct {
	id        int64
	slug      string
	name      string
	connector string
	aliases   []string
}

func build(ds []def) (*Catalog, error) {
	c := &Catalog{
		entries: make([]entry, 0, len(ds)),
		byID:    make(map[int64]int, len(ds)),
		bySlug:  make(map[string]int, len(ds)),
	}
	seenID := make(map[int64]bool, len(ds))
	seenSlug := make(map[string]bool, len(ds))
	for _, d := range ds {
		if d.id <= 0 {
			return nil, fmt.Errorf("build catalog: utility %q: id %d is not positive", d.slug, d.id)
		}
		if !validSlug(d.slug) {
			return nil, fmt.Errorf("build catalog: utility %d: invalid slug %q", d.id, d.slug)
		}
		if strings.TrimSpace(d.name) == "" {
			return nil, fmt.Errorf("build catalog: utility %d: empty name", d.id)
		}
		if seenID[d.id] {
			return nil, fmt.Errorf("build catalog: duplicate id %d", d.id)
		}
		if seenSlug[d.slug] {
			return nil, fmt.Errorf("build catalog: duplicate slug %q", d.slug)
		}
		seenID[d.id], seenSlug[d.slug] = true, true
		e := entry{u: gridlink.Utility{ID: d.id, Slug: d.slug, Name: d.name, Connector: d.connector}}
		for _, s := range append([]string{d.name, d.slug}, d.aliases...) {
			l := strings.ToLower(strings.TrimSpace(s))
			e.lower = append(e.lower, l)
			if k := compact(l); k != "" {
				e.keys = append(e.keys, k)
			}
		}
		c.entries = append(c.entries, e)
	}
	slices.SortFunc(c.entries, func(a, b entry) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.u.Name), strings.ToLower(b.u.Name)), cmp.Compare(a.u.ID, b.u.ID))
	})
	for i, e := range c.entries {
		c.byID[e.u.ID] = i
		c.bySlug[e.u.Slug] = i
	}
	return c, nil
}

func validSlug(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// compact lower-cases s and keeps only its letters and digits, so that
// "PG&E", "pg e" and "pge" all compare equal.
func compact(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// All returns every utility ordered by name (case-insensitive).
func (c *Catalog) All() []gridlink.Utility {
	out := make([]gridlink.Utility, len(c.entries))
	for i, e := range c.entries {
		out[i] = e.u
	}
	return out
}

// Len returns the number of utilities.
func (c *Catalog) Len() int { return len(c.entries) }

// ByID returns the utility with the given id.
func (c *Catalog) ByID(id int64) (gridlink.Utility, bool) {
	i, ok := c.byID[id]
	if !ok {
		return gridlink.Utility{}, false
	}
	return c.entries[i].u, true
}

// BySlug returns the utility with the given slug (exact, case-sensitive:
// slugs are lower case).
func (c *Catalog) BySlug(slug string) (gridlink.Utility, bool) {
	i, ok := c.bySlug[slug]
	if !ok {
		return gridlink.Utility{}, false
	}
	return c.entries[i].u, true
}

// Search returns the utilities whose name, slug or an alias matches q,
// case-insensitively and ignoring punctuation and spaces ("pg&e", "PGE",
// "con ed" and "coned" all work). Exact matches of a whole name, slug or
// alias come first, then prefix matches, then matches anywhere; each group
// is ordered by name. An empty (or blank) q returns All().
func (c *Catalog) Search(q string) []gridlink.Utility {
	lq := strings.ToLower(strings.TrimSpace(q))
	if lq == "" {
		return c.All()
	}
	cq := compact(lq)
	type hit struct {
		rank int
		i    int
	}
	var hits []hit
	for i, e := range c.entries {
		rank := -1
		better := func(r int) {
			if rank < 0 || r < rank {
				rank = r
			}
		}
		for _, l := range e.lower {
			switch {
			case l == lq:
				better(0)
			case strings.HasPrefix(l, lq):
				better(1)
			case strings.Contains(l, lq):
				better(2)
			}
		}
		if cq != "" {
			for _, k := range e.keys {
				switch {
				case k == cq:
					better(0)
				case strings.HasPrefix(k, cq):
					better(1)
				case strings.Contains(k, cq):
					better(2)
				}
			}
		}
		if rank >= 0 {
			hits = append(hits, hit{rank, i})
		}
	}
	slices.SortStableFunc(hits, func(a, b hit) int { return cmp.Compare(a.rank, b.rank) })
	out := make([]gridlink.Utility, len(hits))
	for j, h := range hits {
		out[j] = c.entries[h.i].u
	}
	return out
}

// WithConnector returns a copy of the catalogue in which the utility with
// the given slug is reached by the connector key (for utilities configured
// at start-up, such as Green Button Connect My Data endpoints). The
// receiver is unchanged.
func (c *Catalog) WithConnector(slug, key string) (*Catalog, error) {
	i, ok := c.bySlug[slug]
	if !ok {
		return nil, fmt.Errorf("catalog: no utility with slug %q", slug)
	}
	entries := slices.Clone(c.entries)
	entries[i].u.Connector = key
	return &Catalog{entries: entries, byID: c.byID, bySlug: c.bySlug}, nil
}
