package espicustodian

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

const nsAtom = "http://www.w3.org/2005/Atom"

// feedFile is an ESPI Atom feed indexed by entry, so that entries can be
// served or left out without re-encoding the file.
type feedFile struct {
	name string
	data []byte
	// prologEnd is where the first entry starts; epilogStart is where the
	// last entry ends.
	prologEnd, epilogStart int64
	entries                []entrySeg
	// ns are the namespace declarations of the root element.
	ns map[string]string // prefix ("" for the default) -> URI
}

// entrySeg is one entry: [start, bodyEnd) is the element, [start, end)
// also covers what follows it up to the next entry.
type entrySeg struct {
	start, bodyEnd, end int64
	// kind is the local name of the entry's ESPI resource
	// ("IntervalBlock", "UsagePoint"...).
	kind string
	// blockStart and blockEnd bound an IntervalBlock's readings.
	blockStart, blockEnd int64
	hasBlock             bool
}

// indexFeed finds the entries of an Atom feed.
func indexFeed(name string, data []byte) (*feedFile, error) {
	f := &feedFile{name: name, data: data, ns: map[string]string{}}
	d := xml.NewDecoder(bytes.NewReader(data))
	d.CharsetReader = func(label string, r io.Reader) (io.Reader, error) {
		switch strings.ToLower(label) {
		case "utf-8", "utf8", "us-ascii", "ascii":
			return r, nil
		}
		return nil, fmt.Errorf("encoding %q is not supported", label)
	}
	var (
		path      []string // local names of the open elements
		cur       *entrySeg
		field     string // "start" or "duration" being read, under interval or timePeriod
		inBlockIv bool   // inside the IntervalBlock's own interval
		ivStart   int64
		ivDur     int64
		rdMin     int64 = -1
		rdMax     int64
		rdStart   int64
		rdDur     int64
		text      []byte
		sawRoot   bool
	)
	for {
		before := d.InputOffset()
		tok, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("espicustodian: %s: %w", name, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth := len(path)
			path = append(path, t.Name.Local)
			text = text[:0]
			switch {
			case depth == 0:
				if t.Name.Local != "feed" {
					return nil, fmt.Errorf("espicustodian: %s: root <%s> is not an Atom feed", name, t.Name.Local)
				}
				sawRoot = true
				for _, a := range t.Attr {
					switch {
					case a.Name.Space == "" && a.Name.Local == "xmlns":
						f.ns[""] = a.Value
					case a.Name.Space == "xmlns":
						f.ns[a.Name.Local] = a.Value
					}
				}
			case depth == 1 && t.Name.Local == "entry":
				if len(f.entries) == 0 {
					f.prologEnd = before
				} else {
					f.entries[len(f.entries)-1].end = before
				}
				cur = &entrySeg{start: before}
				inBlockIv, ivStart, ivDur, rdMin, rdMax = false, -1, -1, -1, 0
			case cur != nil && depth == 3 && path[2] == "content" && cur.kind == "":
				cur.kind = t.Name.Local
			case cur != nil && cur.kind == "IntervalBlock" && depth == 4 && t.Name.Local == "interval":
				inBlockIv = true
			case cur != nil && cur.kind == "IntervalBlock" && (t.Name.Local == "start" || t.Name.Local == "duration"):
				if (depth == 5 && inBlockIv) || (depth == 6 && path[depth-1] == "timePeriod") {
					field = t.Name.Local
				}
			case cur != nil && cur.kind == "IntervalBlock" && depth == 5 && t.Name.Local == "timePeriod":
				rdStart, rdDur = -1, -1
			}
		case xml.CharData:
			if field != "" {
				text = append(text, t...)
			}
		case xml.EndElement:
			depth := len(path) - 1
			if depth < 0 {
				return nil, fmt.Errorf("espicustodian: %s: unbalanced </%s>", name, t.Name.Local)
			}
			local := path[depth]
			path = path[:depth]
			if field != "" && local == field {
				v, err := strconv.ParseInt(strings.TrimSpace(string(text)), 10, 64)
				if err != nil {
					return nil, fmt.Errorf("espicustodian: %s: bad <%s> %q", name, field, truncate(string(text)))
				}
				switch {
				case inBlockIv && field == "start":
					ivStart = v
				case inBlockIv && field == "duration":
					ivDur = v
				case field == "start":
					rdStart = v
				default:
					rdDur = v
				}
				field = ""
				continue
			}
			switch {
			case cur != nil && depth == 4 && local == "interval" && inBlockIv:
				inBlockIv = false
			case cur != nil && depth == 5 && local == "timePeriod" && rdStart >= 0 && rdDur >= 0:
				if rdMin < 0 || rdStart < rdMin {
					rdMin = rdStart
				}
				rdMax = max(rdMax, rdStart+rdDur)
			case cur != nil && depth == 1 && local == "entry":
				cur.bodyEnd = d.InputOffset()
				cur.end = cur.bodyEnd
				if cur.kind == "IntervalBlock" {
					switch {
					case ivStart >= 0 && ivDur >= 0:
						cur.blockStart, cur.blockEnd, cur.hasBlock = ivStart, ivStart+ivDur, true
					case rdMin >= 0:
						cur.blockStart, cur.blockEnd, cur.hasBlock = rdMin, rdMax, true
					}
				}
				f.entries = append(f.entries, *cur)
				cur = nil
			}
		}
	}
	if !sawRoot || len(path) != 0 {
		return nil, fmt.Errorf("espicustodian: %s: not a complete Atom feed", name)
	}
	if len(f.entries) == 0 {
		return nil, fmt.Errorf("espicustodian: %s: the feed has no entries", name)
	}
	f.epilogStart = f.entries[len(f.entries)-1].bodyEnd
	if f.ns[""] != nsAtom && f.ns[""] != "" {
		return nil, fmt.Errorf("espicustodian: %s: the default namespace is %q, not Atom", name, f.ns[""])
	}
	return f, nil
}

func truncate(s string) string {
	if len(s) > 20 {
		return s[:20] + "..."
	}
	return s
}

// mergedNamespaces returns the namespace declarations for a feed holding
// the entries of files, sorted by prefix; a prefix declared differently
// by two files is an error.
func mergedNamespaces(files []*feedFile) ([][2]string, error) {
	all := map[string]string{"": nsAtom}
	for _, f := range files {
		for p, uri := range f.ns {
			if p == "" {
				continue
			}
			if old, ok := all[p]; ok && old != uri {
				return nil, fmt.Errorf("namespace prefix %q is %q in one file and %q in %s", p, old, uri, f.name)
			}
			all[p] = uri
		}
	}
	out := make([][2]string, 0, len(all))
	for p, uri := range all {
		out = append(out, [2]string{p, uri})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out, nil
}

// filter selects the entries to serve.
type filter struct {
	kind     string // only entries of this resource; "" all
	min, max int64  // IntervalBlocks ending at or before min, or starting at or after max, are left out (0: no bound)
}

func (fl filter) keep(e entrySeg) bool {
	if fl.kind != "" && e.kind != fl.kind {
		return false
	}
	if e.hasBlock {
		if fl.min != 0 && e.blockEnd <= fl.min {
			return false
		}
		if fl.max != 0 && e.blockStart >= fl.max {
			return false
		}
	}
	return true
}

// parseFilter reads published-min and published-max (xs:dateTime).
func parseFilter(r *http.Request, kind string) (filter, error) {
	fl := filter{kind: kind}
	q := r.URL.Query()
	for name, dst := range map[string]*int64{"published-min": &fl.min, "published-max": &fl.max} {
		v := strings.TrimSpace(q.Get(name))
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return fl, fmt.Errorf("%s %q is not an xs:dateTime such as 2012-01-01T00:00:00Z", name, truncate(v))
		}
		*dst = t.Unix()
	}
	return fl, nil
}

// writeFeed writes the customer's files as one feed: a single file as its
// own bytes less the entries filtered out; several files as their
// entries under a new feed element.
func writeFeed(w io.Writer, files []*feedFile, fl filter, id, self string, updated time.Time) error {
	if len(files) == 1 {
		f := files[0]
		if _, err := w.Write(f.data[:f.prologEnd]); err != nil {
			return err
		}
		for _, e := range f.entries {
			if !fl.keep(e) {
				continue
			}
			if _, err := w.Write(f.data[e.start:e.end]); err != nil {
				return err
			}
		}
		_, err := w.Write(f.data[f.epilogStart:])
		return err
	}
	ns, err := mergedNamespaces(files)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	b.WriteString(xml.Header + "<feed")
	for _, d := range ns {
		if d[0] == "" {
			b.WriteString(` xmlns="`)
		} else {
			b.WriteString(` xmlns:` + d[0] + `="`)
		}
		_ = xml.EscapeText(&b, []byte(d[1]))
		b.WriteString(`"`)
	}
	b.WriteString(">\n  <id>urn:uuid:" + uuidOf(id) + "</id>\n  <title>Green Button Subscription Feed</title>\n  <updated>" +
		updated.UTC().Format(time.RFC3339) + "</updated>\n  <link rel=\"self\" href=\"")
	_ = xml.EscapeText(&b, []byte(self))
	b.WriteString("\"/>\n")
	if _, err := w.Write(b.Bytes()); err != nil {
		return err
	}
	for _, f := range files {
		for _, e := range f.entries {
			if !fl.keep(e) {
				continue
			}
			if _, err := w.Write(f.data[e.start:e.bodyEnd]); err != nil {
				return err
			}
			if _, err := io.WriteString(w, "\n"); err != nil {
				return err
			}
		}
	}
	_, err = io.WriteString(w, "</feed>\n")
	return err
}

// uuidOf formats a digest of s as a UUID.
func uuidOf(s string) string {
	h := digest("espicustodian|" + s)
	return h[0:8] + "-" + h[8:12] + "-8" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
}

// batch serves GET /espi/1_1/resource/Batch/Subscription/{id}.
func (c *Custodian) batch(w http.ResponseWriter, r *http.Request) {
	c.serveResource(w, r, "")
}

// usagePoints serves GET /espi/1_1/resource/Subscription/{id}/UsagePoint.
func (c *Custodian) usagePoints(w http.ResponseWriter, r *http.Request) {
	c.serveResource(w, r, "UsagePoint")
}

func (c *Custodian) serveResource(w http.ResponseWriter, r *http.Request, kind string) {
	id := r.PathValue("id")
	sub, ok := c.bearer(w, r)
	if !ok {
		return
	}
	if sub.id != id {
		c.log.Warn("resource refused: token of another subscription", "subscription", id)
		resourceError(w, http.StatusForbidden, "insufficient_scope", "This access token does not grant access to this subscription.")
		return
	}
	fl, err := parseFilter(r, kind)
	if err != nil {
		resourceError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	cu := c.customers[sub.user]
	w.Header().Set("Content-Type", "application/atom+xml; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	self := c.base(r) + r.URL.Path
	if err := writeFeed(w, cu.files, fl, "subscription|"+sub.id, self, c.now()); err != nil {
		c.log.Warn("serving feed failed", "subscription", sub.id, "err", err)
		return
	}
	c.log.Info("feed served", "subscription", sub.id, "customer", sub.user, "resource", kindOrBatch(kind))
}

func kindOrBatch(kind string) string {
	if kind == "" {
		return "Batch"
	}
	return kind
}

// resourceError answers with a JSON error (RFC 6750 error codes). JSON, not
// text/plain: gridlink's outer middleware replaces plain-text errors.
func resourceError(w http.ResponseWriter, status int, code, desc string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// bearer authenticates the request's access token (RFC 6750) and returns
// its subscription; on failure it answers 401.
func (c *Custodian) bearer(w http.ResponseWriter, r *http.Request) (subscription, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, _ := strings.Cut(h, " ")
	realm := `Bearer realm="` + Name + `"`
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		w.Header().Set("WWW-Authenticate", realm)
		resourceError(w, http.StatusUnauthorized, "invalid_request", "An access token is required.")
		return subscription{}, false
	}
	now := c.now()
	c.mu.Lock()
	t, ok := c.access[digest(strings.TrimSpace(tok))]
	var sub subscription
	if ok {
		if s := c.subs[t.sub]; s != nil && !s.revoked {
			sub = *s
		} else {
			ok = false
		}
	}
	c.mu.Unlock()
	switch {
	case !ok:
		w.Header().Set("WWW-Authenticate", realm+`, error="invalid_token", error_description="The access token is unknown or was revoked."`)
		resourceError(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid.")
		return subscription{}, false
	case !now.Before(t.expires):
		w.Header().Set("WWW-Authenticate", realm+`, error="invalid_token", error_description="The access token expired."`)
		resourceError(w, http.StatusUnauthorized, "invalid_token", "The access token expired.")
		return subscription{}, false
	}
	return sub, true
}
