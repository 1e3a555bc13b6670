package demo

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The demo end to end (Connect, exchange, dashboard, PDFs, polling) is
// covered by internal/e2e's TestDemoApp against a real gridlink dev; these
// tests cover its pure parts.

func TestNewChecksConfig(t *testing.T) {
	for _, cfg := range []Config{
		{BaseURL: "", ClientID: "id", ClientSecret: "s"},
		{BaseURL: "localhost:8080", ClientID: "id", ClientSecret: "s"},
		{BaseURL: "http://localhost:8080", ClientID: "", ClientSecret: "s"},
		{BaseURL: "http://localhost:8080", ClientID: "id"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
	if _, err := New(Config{BaseURL: "http://localhost:8080/", ClientID: "id", ClientSecret: "s"}); err != nil {
		t.Fatal(err)
	}
}

func TestChartRange(t *testing.T) {
	d, err := New(Config{BaseURL: "http://localhost:8080", ClientID: "id", ClientSecret: "s",
		Now: func() time.Time { return time.Date(2026, 3, 15, 18, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		query                string
		view, from, to, note string
	}{
		{"", "daily", "2026-02-14", "2026-03-15", ""},
		{"view=hourly", "hourly", "2026-03-09", "2026-03-15", ""},
		{"view=hourly&from=2026-01-01&to=2026-03-01", "hourly", "2026-01-30", "2026-03-01", "The hourly view shows at most 31 days: the range starts on 2026-01-30."},
		{"view=daily&from=2026-03-10&to=2026-03-01", "daily", "2026-03-01", "2026-03-10", ""},
		{"view=weird&from=junk", "daily", "2026-02-14", "2026-03-15", ""},
	}
	for _, tc := range tests {
		q, _ := url.ParseQuery(tc.query)
		view, from, to, note := d.chartRange(q)
		got := []string{view, from.Format(time.DateOnly), to.Format(time.DateOnly), note}
		if diff := cmp.Diff([]string{tc.view, tc.from, tc.to, tc.note}, got); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tc.query, diff)
		}
	}
}

func TestDrawChart(t *testing.T) {
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 0, 2)
	var hourly []interval
	for h := range 48 {
		s := from.Add(time.Duration(h) * time.Hour).Unix()
		hourly = append(hourly, interval{Start: s, End: s + 3600, Usage: 0.5})
	}
	bars := regexp.MustCompile(`<rect class="bar"`)
	tests := []struct {
		name      string
		ivs       []interval
		view      string
		bars      int
		total     string
		noteMatch string
	}{
		{"hourly view of hourly data", hourly, "hourly", 48, "24.0", ""},
		{"daily view sums the hours", hourly, "daily", 2, "24.0", ""},
		{"daily data in the hourly view", []interval{
			{Start: from.Unix(), End: from.Unix() + 86400, Usage: 3},
			{Start: from.Unix() + 86400, End: from.Unix() + 2*86400, Usage: 4},
		}, "hourly", 2, "7.00", "reports daily values"},
		{"outside the range is ignored", []interval{{Start: from.Unix() - 3600, End: from.Unix(), Usage: 9}}, "daily", 0, "0", ""},
		{"no data", nil, "daily", 0, "0", "No usage"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := drawChart(tc.ivs, tc.view, from, to, `Usage <of> "account"`, "kwh")
			svg := string(c.SVG)
			if n := len(bars.FindAllString(svg, -1)); n != tc.bars {
				t.Errorf("%d bars, want %d", n, tc.bars)
			}
			if c.Total != tc.total || !strings.Contains(c.Note, tc.noteMatch) {
				t.Errorf("total %q note %q", c.Total, c.Note)
			}
			if !strings.HasPrefix(svg, `<svg class="chart"`) || !strings.Contains(svg, `Usage &lt;of&gt; &#34;account&#34;`) || strings.Contains(svg, `<of>`) {
				t.Errorf("SVG not escaped or malformed: %.200s", svg)
			}
		})
	}
}

func TestCurl(t *testing.T) {
	d, err := New(Config{BaseURL: "http://localhost:8080", ClientID: "client-1", ClientSecret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	got := d.curl("POST", "/auth/connect-token", url.Values{"user_id": {"it's me"}, "utility_slug": {"pge"}}, false)
	want := "curl -s -X POST 'http://localhost:8080/auth/connect-token' \\\n" +
		"  -H 'Pelm-Client-Id: client-1' -H \"Pelm-Secret: $PELM_SECRET\" \\\n" +
		"  -d 'user_id=it'\\''s me' \\\n" +
		"  -d 'utility_slug=pge'"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("curl (-want +got):\n%s", diff)
	}
	if got := d.curl("GET", "/accounts", nil, true); strings.Contains(got, "s3cret") || !strings.Contains(got, "Bearer $ACCESS_TOKEN") {
		t.Errorf("GET curl = %q", got)
	}
}
