// Package input holds the limits every value from outside obeys, at the API
// and in the CLI alike: identifiers (codes, IDs, names of steps) are at most
// MaxID bytes, free text (reasons, notes, descriptions) at most MaxText
// bytes, and neither may hold NUL, other control characters or invalid
// UTF-8. Such values would otherwise reach PostgreSQL (which refuses NUL in
// text, and indexes only short keys) or Temporal histories, and fail there
// with a 500 or an activity retried for ever.
package input

import (
	"fmt"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on values, in bytes.
const (
	MaxID   = 64
	MaxText = 2048
)

// Error is a value refused, with the field it came in.
type Error struct {
	Field string
	Msg   string
}

func (e *Error) Error() string { return e.Field + ": " + e.Msg }

// textFields are the JSON field names (and CLI flags) that hold free text;
// every other string is an identifier.
var textFields = map[string]bool{
	"reason": true, "note": true, "description": true, "name": true, "for": true, "title": true,
}

// IsText reports whether a field of that name holds free text.
func IsText(name string) bool { return textFields[name] }

// ID checks an identifier.
func ID(field, s string) error { return check(field, s, MaxID, false) }

// IDUpTo checks an identifier allowed up to max bytes (workflow IDs, which
// join several identifiers).
func IDUpTo(field, s string, max int) error { return check(field, s, max, false) }

// Text checks free text: tabs and line breaks are allowed, other control
// characters are not.
func Text(field, s string) error { return check(field, s, MaxText, true) }

// Value checks s as free text when the field's name says so, else as an
// identifier.
func Value(field, name, s string) error {
	if IsText(name) {
		return Text(field, s)
	}
	return ID(field, s)
}

func check(field, s string, max int, text bool) error {
	if len(s) > max {
		return &Error{field, fmt.Sprintf("is %d bytes long: at most %d", len(s), max)}
	}
	if !utf8.ValidString(s) {
		return &Error{field, "is not valid UTF-8"}
	}
	for i, r := range s {
		switch {
		case r == 0:
			return &Error{field, fmt.Sprintf("holds a NUL byte (at byte %d)", i)}
		case r == utf8.RuneError:
			// encoding/json turns invalid UTF-8 into U+FFFD: refusing it is
			// how invalid bytes in a JSON body are caught.
			return &Error{field, fmt.Sprintf("holds invalid UTF-8 or U+FFFD (at byte %d)", i)}
		case text && (r == '\t' || r == '\n' || r == '\r'):
		case unicode.IsControl(r):
			return &Error{field, fmt.Sprintf("holds control character %U (at byte %d)", r, i)}
		}
	}
	return nil
}

// Struct checks every string of a decoded JSON request (structs, pointers,
// slices and maps of them), naming a field by its JSON path, e.g.
// findings[2].description. It returns the first problem found.
func Struct(v any) error {
	return walk(reflect.ValueOf(v), "", "")
}

func walk(v reflect.Value, path, name string) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return walk(v.Elem(), path, name)
	case reflect.String:
		return Value(path, name, v.String())
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return nil
		}
		for i := range v.Len() {
			if err := walk(v.Index(i), fmt.Sprintf("%s[%d]", path, i), name); err != nil {
				return err
			}
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			k := fmt.Sprint(iter.Key().Interface())
			if err := ID(join(path, "(key)"), k); err != nil {
				return err
			}
			if err := walk(iter.Value(), join(path, k), k); err != nil {
				return err
			}
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if tag == "-" {
				continue
			}
			if f.Anonymous && tag == "" {
				if err := walk(v.Field(i), path, name); err != nil {
					return err
				}
				continue
			}
			if tag == "" {
				tag = f.Name
			}
			if err := walk(v.Field(i), join(path, tag), tag); err != nil {
				return err
			}
		}
	}
	return nil
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
