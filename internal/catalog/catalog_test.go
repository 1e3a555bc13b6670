package catalog

import (
	"bufio"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gridlink/gridlink"
)

func TestDefaultWellKnown(t *testing.T) {
	c := Default()
	tests := []struct {
		name string
		id   int64
		want gridlink.Utility
	}{
		{"pge", 1, gridlink.Utility{ID: 1, Slug: "pge", Name: "Pacific Gas and Electric", Connector: "pelm-sandbox"}},
		{"sandbox", 1000, gridlink.Utility{ID: 1000, Slug: "sandbox", Name: "gridlink Sandbox", Connector: "sandbox"}},
		{"demo-power", 86, gridlink.Utility{ID: 86, Slug: "demo-power", Name: "Demo Power & Light", Connector: ConnectorDemoPower}},
		{"sce unsupported", 2, gridlink.Utility{ID: 2, Slug: "sce", Name: "Southern California Edison"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := c.ByID(tt.id)
			if !ok {
				t.Fatalf("ByID(%d) not found", tt.id)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ByID(%d) (-want +got):\n%s", tt.id, diff)
			}
			got, ok = c.BySlug(tt.want.Slug)
			if !ok || got != tt.want {
				t.Errorf("BySlug(%q) = %+v, %v", tt.want.Slug, got, ok)
			}
		})
	}
	if u, _ := c.ByID(PGEID); u.Slug != PGESlug {
		t.Errorf("PGEID names %q, want %q", u.Slug, PGESlug)
	}
	if u, _ := c.ByID(SandboxID); u.Slug != SandboxSlug {
		t.Errorf("SandboxID names %q, want %q", u.Slug, SandboxSlug)
	}
	if _, ok := c.ByID(999); ok {
		t.Error("ByID(999) found a utility")
	}
	if _, ok := c.BySlug("PGE"); ok {
		t.Error("BySlug is case-insensitive; slugs are exact")
	}
	for _, u := range c.All() {
		if u.Supported() && u.ID != PGEID && u.ID != SandboxID && u.Slug != "demo-power" && u.Slug != "demo-greenbutton" {
			t.Errorf("%s is supported; only PG&E, the sandbox and the demo utilities have connectors yet", u.Slug)
		}
	}
}

func TestDefaultTable(t *testing.T) {
	all := Default().All()
	if len(all) < 51 {
		t.Fatalf("catalogue has %d utilities, want at least 50 real ones plus the sandbox", len(all))
	}
	ids := map[int64]bool{}
	slugs := map[string]bool{}
	var real []int64
	for _, u := range all {
		if ids[u.ID] || slugs[u.Slug] {
			t.Errorf("duplicate id %d or slug %q", u.ID, u.Slug)
		}
		ids[u.ID], slugs[u.Slug] = true, true
		if u.ID != SandboxID {
			real = append(real, u.ID)
		}
	}
	// Real utilities are numbered 1..N without gaps, below the sandbox.
	slices.Sort(real)
	for i, id := range real {
		if id != int64(i+1) {
			t.Fatalf("ids are not 1..N: position %d holds id %d", i, id)
		}
	}
	if int64(len(real)) >= SandboxID {
		t.Errorf("real utilities reach the sandbox id %d", SandboxID)
	}
	// All is ordered by name.
	if !slices.IsSortedFunc(all, func(a, b gridlink.Utility) int {
		return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	}) {
		t.Error("All is not ordered by name")
	}
}

// TestIDsArePermanent fails when an id or slug recorded in testdata/ids.txt
// changes: ids are public and must never be renumbered.
func TestIDsArePermanent(t *testing.T) {
	f, err := os.Open("testdata/ids.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := Default()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		idText, slug, _ := strings.Cut(line, " ")
		id, err := strconv.ParseInt(idText, 10, 64)
		if err != nil {
			t.Fatalf("bad line %q", line)
		}
		n++
		if u, ok := c.ByID(id); !ok || u.Slug != slug {
			t.Errorf("id %d is now %q (found %v), was %q", id, u.Slug, ok, slug)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n != c.Len() {
		t.Errorf("testdata/ids.txt has %d utilities, catalogue %d: append new ones to the file", n, c.Len())
	}
}

func TestDefaultIsFresh(t *testing.T) {
	a := Default().All()
	a[0].Name = "changed"
	if Default().All()[0].Name == "changed" {
		t.Error("changing one catalogue's output changed another")
	}
}

func TestSearch(t *testing.T) {
	c := Default()
	tests := []struct {
		q string
		// first is the slug expected first; "" means no result at all.
		first string
		// also are slugs that must appear somewhere in the result.
		also []string
		// not are slugs that must not appear.
		not []string
	}{
		{q: "pg&e", first: "pge"},
		{q: "PGE", first: "pge"},
		{q: "pacific gas", first: "pge"},
		{q: "  Pacific Gas and Electric ", first: "pge"},
		{q: "con ed", first: "coned", not: []string{"pge"}},
		{q: "coned", first: "coned"},
		{q: "Consolidated Edison", first: "coned"},
		{q: "sdge", first: "sdge"},
		{q: "SDG&E", first: "sdge"},
		{q: "edison", first: "sce", also: []string{"coned", "comed", "ohio-edison", "met-ed"}},
		{q: "duke", also: []string{"duke-energy-carolinas", "duke-energy-progress", "duke-energy-florida"}, not: []string{"pge"}},
		{q: "national grid", also: []string{"national-grid-ny", "national-grid-ma"}},
		{q: "firstenergy", also: []string{"jcpl", "met-ed", "penelec", "ohio-edison"}},
		{q: "aep", also: []string{"aep-ohio", "aep-texas", "pso", "swepco"}},
		{q: "sandbox", first: "sandbox"},
		{q: "demo power", first: "demo-power", not: []string{"sandbox"}},
		{q: "Demo Power and Light", first: "demo-power"},
		{q: "xyzzy-no-such-utility", first: ""},
		{q: "&&&", first: ""},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			got := c.Search(tt.q)
			var slugs []string
			for _, u := range got {
				slugs = append(slugs, u.Slug)
			}
			switch {
			case tt.first == "" && len(tt.also) == 0:
				if len(got) != 0 {
					t.Errorf("Search(%q) = %v, want nothing", tt.q, slugs)
				}
			case tt.first != "":
				if len(got) == 0 || got[0].Slug != tt.first {
					t.Errorf("Search(%q) = %v, want %q first", tt.q, slugs, tt.first)
				}
			}
			for _, s := range tt.also {
				if !slices.Contains(slugs, s) {
					t.Errorf("Search(%q) = %v, lacks %q", tt.q, slugs, s)
				}
			}
			for _, s := range tt.not {
				if slices.Contains(slugs, s) {
					t.Errorf("Search(%q) = %v, should not contain %q", tt.q, slugs, s)
				}
			}
		})
	}
	if diff := cmp.Diff(c.All(), c.Search("  ")); diff != "" {
		t.Errorf("blank search is not All (-all +search):\n%s", diff)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		in      []gridlink.Utility
		wantErr bool
	}{
		{"ok", []gridlink.Utility{{ID: 2, Slug: "b", Name: "Beta"}, {ID: 1, Slug: "a", Name: "alpha", Connector: "x"}}, false},
		{"empty", nil, false},
		{"duplicate id", []gridlink.Utility{{ID: 1, Slug: "a", Name: "A"}, {ID: 1, Slug: "b", Name: "B"}}, true},
		{"duplicate slug", []gridlink.Utility{{ID: 1, Slug: "a", Name: "A"}, {ID: 2, Slug: "a", Name: "B"}}, true},
		{"zero id", []gridlink.Utility{{ID: 0, Slug: "a", Name: "A"}}, true},
		{"empty slug", []gridlink.Utility{{ID: 1, Slug: "", Name: "A"}}, true},
		{"upper-case slug", []gridlink.Utility{{ID: 1, Slug: "PGE", Name: "A"}}, true},
		{"slug with space", []gridlink.Utility{{ID: 1, Slug: "p ge", Name: "A"}}, true},
		{"empty name", []gridlink.Utility{{ID: 1, Slug: "a", Name: " "}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("New error = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if c.Len() != len(tt.in) {
				t.Errorf("Len = %d, want %d", c.Len(), len(tt.in))
			}
			for _, u := range tt.in {
				if got, ok := c.ByID(u.ID); !ok || got != u {
					t.Errorf("ByID(%d) = %+v, %v; want %+v", u.ID, got, ok, u)
				}
			}
		})
	}
	c, _ := New([]gridlink.Utility{{ID: 2, Slug: "b", Name: "Beta"}, {ID: 1, Slug: "a", Name: "alpha"}})
	if got := c.All(); got[0].Slug != "a" {
		t.Errorf("All not ordered by name case-insensitively: %+v", got)
	}
	if got := c.Search("BET"); len(got) != 1 || got[0].Slug != "b" {
		t.Errorf("Search(BET) = %+v", got)
	}
}

func TestWithConnector(t *testing.T) {
	base := Default()
	got, err := base.WithConnector("coned", "greenbutton:coned")
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := got.BySlug("coned"); u.Connector != "greenbutton:coned" || !u.Supported() {
		t.Fatalf("coned in the copy = %+v", u)
	}
	if u, _ := got.ByID(7); u.Connector != "greenbutton:coned" {
		t.Fatalf("ByID sees %+v", u)
	}
	if u, _ := base.BySlug("coned"); u.Connector != "" {
		t.Fatalf("the original changed: %+v", u)
	}
	if r := got.Search("con ed"); len(r) == 0 || r[0].Connector != "greenbutton:coned" {
		t.Fatalf("search in the copy = %+v", r)
	}
	if _, err := base.WithConnector("no-such", "x"); err == nil {
		t.Fatal("unknown slug accepted")
	}
}
