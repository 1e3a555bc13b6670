package portal

import (
	"bytes"
	"net/url"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/go-cmp/cmp"

	"github.com/gridlink/gridlink/internal/connector"
)

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func pageOf(t *testing.T, body string) *Page {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	return &Page{URL: mustURL(t, "https://portal.example/account/usage"), Status: 200, Body: []byte(body), Doc: doc}
}

func TestParseForms(t *testing.T) {
	base := mustURL(t, "https://portal.example/sign-in?next=%2Fhome")
	tests := []struct {
		name string
		html string
		want []*Form
	}{
		{
			name: "login with hidden CSRF field, checkbox and buttons",
			html: `<form id="login" method="POST" action="/session#top">
				<input type="hidden" name="csrf_token" value="abc123">
				<input type="text" name="username" value="">
				<input type="password" name="password">
				<input type="checkbox" name="remember" checked>
				<input type="checkbox" name="newsletter" value="yes">
				<input type="submit" name="commit" value="Sign in">
				<button name="b" value="x">B</button>
			</form>`,
			want: []*Form{{ID: "login", Method: "POST", Action: "https://portal.example/session",
				Fields: []Field{{"csrf_token", "abc123"}, {"username", ""}, {"password", ""}, {"remember", "on"}}}},
		},
		{
			name: "empty action posts back to the page; default method GET",
			html: `<form><input name="q" value="kWh"><textarea name="note">hi
there</textarea><input name="off" value="1" disabled></form>`,
			want: []*Form{{Method: "GET", Action: "https://portal.example/sign-in?next=%2Fhome",
				Fields: []Field{{"q", "kWh"}, {"note", "hi\nthere"}}}},
		},
		{
			name: "radio group with labels and a select",
			html: `<form id="mfa" method="post" action="mfa/choose">
				<label for="m1">Text to (***) ***-0199</label><input type="radio" id="m1" name="method" value="sms" checked>
				<label><input type="radio" name="method" value="email"> E-mail to c****@example.com</label>
				<select name="format"><option value="csv">CSV</option><option selected>xml</option></select>
				<select name="empty"></select>
			</form>`,
			want: []*Form{{ID: "mfa", Method: "POST", Action: "https://portal.example/mfa/choose",
				Fields: []Field{{"method", "sms"}, {"format", "xml"}},
				Choices: []Choice{
					{"method", "sms", "Text to (***) ***-0199"},
					{"method", "email", "E-mail to c****@example.com"},
					{"format", "csv", "CSV"}, {"format", "xml", "xml"},
				}}},
		},
		{
			name: "two forms",
			html: `<form id="a" action="https://other.example/x"></form><form id="b" action="?p=2"></form>`,
			want: []*Form{
				{ID: "a", Method: "GET", Action: "https://other.example/x"},
				{ID: "b", Method: "GET", Action: "https://portal.example/sign-in?p=2"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseForms([]byte(tc.html), base)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("forms (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseFormsRejects(t *testing.T) {
	base := mustURL(t, "https://portal.example/")
	for _, html := range []string{
		`<form action="javascript:alert(1)"></form>`,
		`<form method="post" enctype="multipart/form-data"></form>`,
		`<form action="ftp://portal.example/x"></form>`,
	} {
		if _, err := ParseForms([]byte(html), base); connector.KindOf(err) != connector.KindLayoutChanged {
			t.Errorf("ParseForms(%s) = %v, want layout_changed", html, err)
		}
	}
}

func TestFormCSRFAndEditing(t *testing.T) {
	for _, name := range []string{"csrf_token", "_csrf", "authenticity_token", "__RequestVerificationToken", "_token", "XSRF-TOKEN"} {
		f := &Form{Fields: []Field{{"user", "u"}, {name, "tok"}}}
		n, v, ok := f.CSRF()
		if !ok || n != name || v != "tok" {
			t.Errorf("CSRF() with field %q = %q, %q, %v", name, n, v, ok)
		}
	}
	if _, _, ok := (&Form{Fields: []Field{{"user", "u"}, {"token_type", "bearer"}}}).CSRF(); ok {
		t.Error("token_type taken for an anti-forgery token")
	}

	f := &Form{Fields: []Field{{"a", "1"}, {"b", "2"}, {"a", "3"}}}
	c := f.Clone()
	f.Set("a", "x")
	f.Set("c", "y")
	f.Del("b")
	if diff := cmp.Diff(url.Values{"a": {"x"}, "c": {"y"}}, f.Values()); diff != "" {
		t.Errorf("after edits (-want +got):\n%s", diff)
	}
	if c.Get("a") != "1" || !c.Has("b") {
		t.Error("Clone shares fields with the original")
	}
	if err := f.Require("a", "zz"); connector.KindOf(err) != connector.KindLayoutChanged {
		t.Errorf("Require of a missing field = %v", err)
	}
}

func TestPageTable(t *testing.T) {
	const html = `<table id="bills"><thead><tr><th>Amount due</th><th> Statement
		date </th><th>PDF</th></tr></thead><tbody>
		<tr><td>$12.50</td><td>Mar 4, 2026</td><td><a href="bills/1.pdf">PDF</a></td></tr>
		<tr><td colspan="3">Older bills are archived</td></tr>
		<tr><td>$9.00</td><td>Feb 4, 2026</td><td>none</td></tr>
		</tbody></table>
		<table id="bad"><tr><th>A</th><th>B</th></tr><tr><td>1</td></tr></table>`
	p := pageOf(t, html)
	tbl, err := p.Table("#bills", "statement date", "AMOUNT DUE")
	if err != nil {
		t.Fatal(err)
	}
	var got [][]string
	for _, r := range tbl.Rows {
		got = append(got, []string{r.Text("Statement date"), r.Text("Amount due")})
	}
	if diff := cmp.Diff([][]string{{"Mar 4, 2026", "$12.50"}, {"Feb 4, 2026", "$9.00"}}, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if link, err := tbl.Rows[0].Link("PDF"); err != nil || link != "https://portal.example/account/bills/1.pdf" {
		t.Errorf("Link = %q, %v", link, err)
	}
	if _, err := tbl.Rows[1].Link("PDF"); connector.KindOf(err) != connector.KindLayoutChanged {
		t.Errorf("Link of a cell without a link = %v", err)
	}

	for name, call := range map[string]func() error{
		"missing column": func() error { _, err := p.Table("#bills", "Due date"); return err },
		"missing table":  func() error { _, err := p.Table("#payments"); return err },
		"ragged row":     func() error { _, err := p.Table("#bad"); return err },
		"missing form":   func() error { _, err := p.Form("form#login"); return err },
		"missing link":   func() error { _, err := p.Link("a#download"); return err },
		"require":        func() error { return p.Require("#bills", "h1.account") },
	} {
		if err := call(); connector.KindOf(err) != connector.KindLayoutChanged {
			t.Errorf("%s: %v, want layout_changed", name, err)
		}
	}
}

func TestClean(t *testing.T) {
	if got := Clean("  Amount\n\t due\u00a0 "); got != "Amount due" {
		t.Errorf("Clean = %q", got)
	}
}
