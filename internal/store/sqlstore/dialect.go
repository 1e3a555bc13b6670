package sqlstore

import (
	"embed"
	"errors"
	"io/fs"
	"strconv"
	"strings"

	"modernc.org/sqlite"
)

// migrationFiles holds the schema of every dialect, one folder each
// (migrations/<dialect>/NNNN_name.sql).
//
//go:embed migrations
var migrationFiles embed.FS

// dialect is everything the SQL layer needs to know about one database.
// Queries are written once, with "?" placeholders, ON CONFLICT upserts and
// RETURNING, which SQLite (3.35+) and PostgreSQL both understand.
type dialect struct {
	name string
	// dollar is true for $1, $2, ... placeholders (PostgreSQL).
	dollar bool
	// migrations is the dialect's migration folder.
	migrations fs.FS
	// isUniqueViolation and isForeignKeyViolation classify driver errors.
	isUniqueViolation     func(error) bool
	isForeignKeyViolation func(error) bool
}

// rebind rewrites "?" placeholders to the dialect's style. Queries in this
// package never contain a literal "?" in a string.
func (d dialect) rebind(q string) string {
	if !d.dollar {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// SQLite extended result codes (sqlite3.h).
const (
	sqliteConstraintForeignKey = 787
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

func sqliteCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

func sqliteDialect() dialect {
	sub, err := fs.Sub(migrationFiles, "migrations/sqlite")
	if err != nil {
		panic(err) // the folder is embedded at build time
	}
	return dialect{
		name:       "sqlite",
		migrations: sub,
		isUniqueViolation: func(err error) bool {
			c := sqliteCode(err)
			return c == sqliteConstraintUnique || c == sqliteConstraintPrimaryKey
		},
		isForeignKeyViolation: func(err error) bool {
			return sqliteCode(err) == sqliteConstraintForeignKey
		},
	}
}
