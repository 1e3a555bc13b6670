package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// flags is a flag.FlagSet whose flags default to their GRIDLINK_*
// environment variable twins: --redirect-uri reads GRIDLINK_REDIRECT_URI.
// A repeatable flag's variable holds comma-separated values.
type flags struct {
	*flag.FlagSet
	getenv func(string) string
	// twins overrides the environment variable twin of some flags (see
	// twin).
	twins map[string]string
	errs  []error
}

func newFlags(name string, getenv func(string) string, out io.Writer) *flags {
	fs := flag.NewFlagSet("gridlink "+name, flag.ContinueOnError)
	fs.SetOutput(out)
	return &flags{FlagSet: fs, getenv: getenv}
}

// EnvName returns the environment variable twin of a flag.
func envName(flagName string) string {
	return "GRIDLINK_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// twin makes variable the environment twin of flag name, instead of the
// one derived from the name; call it before defining the flag. It keeps a
// command's --addr apart from another command's (GRIDLINK_ADDR).
func (f *flags) twin(name, variable string) {
	if f.twins == nil {
		f.twins = map[string]string{}
	}
	f.twins[name] = variable
}

// envName returns the environment variable twin of a flag of f.
func (f *flags) envName(name string) string {
	if v, ok := f.twins[name]; ok {
		return v
	}
	return envName(name)
}

func (f *flags) env(name string) (string, bool) {
	v := f.getenv(f.envName(name))
	return v, v != ""
}

func (f *flags) String(name, def, help string) *string {
	if v, ok := f.env(name); ok {
		def = v
	}
	return f.FlagSet.String(name, def, help+" ["+f.envName(name)+"]")
}

func (f *flags) Bool(name string, def bool, help string) *bool {
	if v, ok := f.env(name); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q is not a boolean", f.envName(name), v))
		}
		def = b
	}
	return f.FlagSet.Bool(name, def, help+" ["+f.envName(name)+"]")
}

func (f *flags) Duration(name string, def time.Duration, help string) *time.Duration {
	if v, ok := f.env(name); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q is not a duration (e.g. 30s, 12h)", f.envName(name), v))
		}
		def = d
	}
	return f.FlagSet.Duration(name, def, help+" ["+f.envName(name)+"]")
}

func (f *flags) Int(name string, def int, help string) *int {
	if v, ok := f.env(name); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q is not an integer", f.envName(name), v))
		}
		def = n
	}
	return f.FlagSet.Int(name, def, help+" ["+f.envName(name)+"]")
}

// list is a repeatable string flag.
type list struct {
	vals []string
	set  bool
}

func (l *list) String() string { return strings.Join(l.vals, ",") }

func (l *list) Set(v string) error {
	if !l.set { // the first command-line value replaces the environment's
		l.vals, l.set = nil, true
	}
	l.vals = append(l.vals, v)
	return nil
}

func (f *flags) List(name, help string) *list {
	l := &list{}
	if v, ok := f.env(name); ok {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				l.vals = append(l.vals, s)
			}
		}
	}
	f.FlagSet.Var(l, name, help+" (repeatable) ["+f.envName(name)+", comma-separated]")
	return l
}

// Parse parses args and reports environment errors; --help gives flag.ErrHelp.
func (f *flags) Parse(args []string) error {
	if err := f.FlagSet.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if len(f.errs) > 0 {
		return usageError{errors.Join(f.errs...).Error()}
	}
	return nil
}
