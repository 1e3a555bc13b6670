package portal

import (
	"math"
	"net/url"
	"testing"
)

// FuzzParseForms: no HTML makes form parsing panic, and every parsed form
// has an absolute http(s) action and a known method.
func FuzzParseForms(f *testing.F) {
	for _, seed := range []string{
		``,
		`<form id="login" method="post" action="/login"><input type="hidden" name="csrf_token" value="x"><input name="username"><input type="password" name="password"></form>`,
		`<form><select name="s"><option>a<option selected value=b>b</select><textarea name=t>x</textarea></form>`,
		`<form action="javascript:alert(1)"><input type=radio name=m value=1 id=r><label for=r>one</label></form>`,
		`<form action="%zz"><input name></form><form method=POST enctype="multipart/form-data"></form>`,
		`<form action="//other.example/x?y=1#f"><input type=checkbox name=c checked><input name=d disabled></form>`,
		`<form><form><input name=nested></form></form><table><form><tr><td><input name=x></td></tr></form></table>`,
		"<form action=\"\x00\"><input name=\"\xff\" value=\"\xfe\"></form>",
	} {
		f.Add([]byte(seed))
	}
	base, _ := url.Parse("https://portal.example/login?next=%2Fhome")
	f.Fuzz(func(t *testing.T, html []byte) {
		forms, err := ParseForms(html, base)
		if err != nil {
			return
		}
		for _, fm := range forms {
			u, err := url.Parse(fm.Action)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Fragment != "" {
				t.Fatalf("form action %q", fm.Action)
			}
			if fm.Method != "GET" && fm.Method != "POST" {
				t.Fatalf("form method %q", fm.Method)
			}
			for _, fl := range fm.Fields {
				if fl.Name == "" {
					t.Fatal("a field without a name")
				}
			}
			_ = fm.Values().Encode()
			fm.CSRF()
		}
	})
}

// FuzzParseCSV: no file makes CSV parsing panic, and every row has the
// header's field count.
func FuzzParseCSV(f *testing.F) {
	for _, seed := range []string{
		"METER,START,USAGE\nE-1,2026-01-01T00:00:00Z,0.5\n",
		"\xef\xbb\xbfAccount,1\n\nMETER,START,USAGE\n\"E,1\",x,\"1,2\"\n",
		"a\"b,c\n", "", "\n\n\n", "METER,START,USAGE\nE-1\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tbl, err := ParseCSV(data, "METER", "START", "USAGE")
		if err != nil {
			return
		}
		for _, r := range tbl.Rows {
			if len(r.fields) != len(tbl.Header) {
				t.Fatalf("row with %d fields for %d columns", len(r.fields), len(tbl.Header))
			}
			r.Get("USAGE")
		}
		_ = CheckFile(CSV, "text/csv", data)
	})
}

// FuzzParseMoney: amounts parse to finite values rounded to the cent.
func FuzzParseMoney(f *testing.F) {
	for _, seed := range []string{"$1,234.56", "-$3.00", "($3.00)", "$", "$.5", "$1e309", "(-$1)", "$ 1 2"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseMoney(s)
		if err != nil {
			return
		}
		if math.IsInf(v, 0) || math.IsNaN(v) {
			t.Fatalf("ParseMoney(%q) = %v", s, v)
		}
		if c := v * 100; math.Abs(c-math.Round(c)) > 1e-6*math.Max(1, math.Abs(c)) {
			t.Fatalf("ParseMoney(%q) = %v, not whole cents", s, v)
		}
	})
}
