package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/service"
)

// Languages the console speaks; every string of each is in
// ui/i18n/<language>.json.
var languages = []string{"en", "zh-CN"}

func loadMessages() (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for _, l := range languages {
		raw, err := fs.ReadFile(ui, "ui/i18n/"+l+".json")
		if err != nil {
			return nil, fmt.Errorf("reading messages: %w", err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("parsing ui/i18n/%s.json: %w", l, err)
		}
		out[l] = m
	}
	return out, nil
}

// language picks the console's language: the switch's cookie, else the
// best match in Accept-Language, else English.
func language(r *http.Request) string {
	if ck, err := r.Cookie(langCookie); err == nil && slices.Contains(languages, ck.Value) {
		return ck.Value
	}
	type pref struct {
		lang string
		q    float64
	}
	var prefs []pref
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		tag = strings.ToLower(tag)
		switch {
		case strings.HasPrefix(tag, "zh"):
			prefs = append(prefs, pref{"zh-CN", q})
		case strings.HasPrefix(tag, "en"):
			prefs = append(prefs, pref{"en", q})
		}
	}
	sort.SliceStable(prefs, func(i, j int) bool { return prefs[i].q > prefs[j].q })
	if len(prefs) > 0 && prefs[0].q > 0 {
		return prefs[0].lang
	}
	return "en"
}

// page is what every template gets.
type page struct {
	Lang  string
	Title string
	S     *session
	Path  string // the request's path and query, for the language switch
	Flash string
	Error *service.Error // an error not tied to one field
	Data  any
	c     *Console
}

// T translates key, formatting args into it when given.
func (p *page) T(key string, args ...any) string {
	s, ok := p.c.msgs[p.Lang][key]
	if !ok {
		s, ok = p.c.msgs["en"][key]
	}
	if !ok {
		return key
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// TOr translates key, or gives fallback when no language has it.
func (p *page) TOr(key, fallback string) string {
	if s, ok := p.c.msgs[p.Lang][key]; ok {
		return s
	}
	return fallback
}

// CSRF is the session's form token.
func (p *page) CSRF() string {
	if p.S == nil {
		return ""
	}
	return p.S.csrf()
}

// LangURL is the language switch's link to lang, coming back here.
func (p *page) LangURL(lang string) string {
	return "/console/lang?l=" + url.QueryEscape(lang) + "&next=" + url.QueryEscape(p.Path)
}

// Workflow links a workflow to the Temporal Web UI.
func (p *page) Workflow(id string) string {
	return p.c.cfg.TemporalUIURL + "/namespaces/" + url.PathEscape(p.c.cfg.TemporalNamespace) + "/workflows/" + url.PathEscape(id)
}

var funcs = template.FuncMap{
	"has": func(list []string, s string) bool { return slices.Contains(list, s) },
	"time": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			return v.UTC().Format("2006-01-02 15:04:05 UTC")
		case *time.Time:
			if v != nil {
				return v.UTC().Format("2006-01-02 15:04:05 UTC")
			}
		}
		return "—"
	},
	"join": strings.Join,
	// dict hands a partial template the page and one value.
	"dict": func(p *page, v any) map[string]any { return map[string]any{"P": p, "V": v} },
	// prettyJSON is v as indented JSON.
	"prettyJSON": func(v any) string {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return ""
		}
		return string(b)
	},
	"pretty": func(raw json.RawMessage) string {
		var b bytes.Buffer
		if json.Indent(&b, raw, "", "  ") != nil {
			return string(raw)
		}
		return b.String()
	},
	"excerpt": func(s string, n int) string {
		if len([]rune(s)) <= n {
			return s
		}
		return string([]rune(s)[:n]) + "…"
	},
	// pct, msf and period write the statistics: a rate as a percentage,
	// a latency in ms (or s), a period's start in UTC; "—" for none.
	"pct": func(f *float64) string {
		if f == nil {
			return "—"
		}
		return strconv.FormatFloat(*f*100, 'f', 1, 64) + " %"
	},
	"msf": func(f *float64) string {
		switch {
		case f == nil:
			return "—"
		case *f >= 1000:
			return strconv.FormatFloat(*f/1000, 'f', 2, 64) + " s"
		}
		return strconv.FormatFloat(*f, 'f', 0, 64) + " ms"
	},
	"period": func(interval string, t time.Time) string {
		if interval == "day" {
			return t.UTC().Format("2006-01-02")
		}
		return t.UTC().Format("2006-01-02 15:04")
	},
	"intp": func(p *int) string {
		if p == nil {
			return "—"
		}
		return strconv.Itoa(*p)
	},
}

// render writes page name with status.
func (c *Console) render(w http.ResponseWriter, r *http.Request, s *session, status int, name string, p *page) {
	t, ok := c.pages[name]
	if !ok {
		panic("console: no page " + name)
	}
	p.c, p.S, p.Lang, p.Path = c, s, language(r), r.URL.RequestURI()
	if p.Flash == "" {
		if k := r.URL.Query().Get("done"); k != "" {
			if _, known := c.msgs["en"]["done."+k]; known {
				p.Flash = p.T("done." + k)
			}
		}
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		c.log.Error("console: rendering", "page", name, "err", err)
		http.Error(w, "rendering failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// message renders a page saying one thing: a title and a paragraph.
func (c *Console) message(w http.ResponseWriter, r *http.Request, s *session, status int, title, body string) {
	p := &page{c: c, Lang: language(r)}
	c.render(w, r, s, status, "message", &page{Title: p.T(title), Data: p.T(body)})
}

// fail renders an unexpected error without its detail, which is logged.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	c.log.Error("console: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	c.message(w, r, s, http.StatusInternalServerError, "error.title", "error.body")
}

// failed renders an error of the services that has no form to go back to;
// anything else is unexpected (fail).
func (c *Console) failed(w http.ResponseWriter, r *http.Request, s *session, err error) {
	var e *service.Error
	switch {
	case !errors.As(err, &e):
		c.fail(w, r, s, err)
	case e.Kind == service.PlanNotSupported:
		c.render(w, r, s, http.StatusForbidden, "plan", &page{})
	default:
		c.render(w, r, s, e.Kind.Status(), "message", &page{Title: (&page{c: c, Lang: language(r)}).T("error.api"), Error: e})
	}
}

func fsSub(dir string) (fs.FS, error) { return fs.Sub(ui, dir) }
