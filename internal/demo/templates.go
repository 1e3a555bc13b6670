package demo

import (
	"fmt"
	"html/template"
)

// parsePages parses every page together with templates/layout.html.
func parsePages() (map[string]*template.Template, error) {
	base, err := template.ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("demo: parse layout: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, name := range []string{"home", "dashboard", "loading", "error"} {
		t, err := base.Clone()
		if err != nil {
			return nil, fmt.Errorf("demo: clone layout: %w", err)
		}
		if _, err := t.ParseFS(templateFS, "templates/"+name+".html"); err != nil {
			return nil, fmt.Errorf("demo: parse page %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}
