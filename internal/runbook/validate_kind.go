package runbook

// Checking a kind step: that its kind is registered, runs at the level
// around it, and that its params are known, of their declared types and free
// of placeholders the kind cannot fill in. The check also completes the
// params for the interpreter: defaults filled in, values normalised.

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// kind checks a step with a kind against the kind's registration.
func (v *validator) kind(s *Step, path string, sc scope) {
	k, ok := v.reg[s.Kind]
	if !ok {
		v.add(path+".kind", "unknown kind %q: want one of %s", s.Kind, strings.Join(v.reg.Names(), ", "))
		return
	}
	v.perArea(s.Kind, k, path, sc)
	if s.Params == nil && len(k.Params) > 0 {
		s.Params = map[string]any{}
	}
	for _, name := range sortedKeys(k.Params) {
		v.param(s, k, name, path+".params."+name)
	}
	for _, name := range sortedKeys(k.Translations) {
		v.sameFacts(s, path+".params."+name, name, k.Translations[name])
	}
	v.unknownParams(s, k, path)
}

// perArea checks that a kind which runs once per area of some levels sits
// in a for_each over areas of one of them.
func (v *validator) perArea(kind string, k Kind, path string, sc scope) {
	if len(k.PerArea) == 0 || sc.level == anyLevel || slices.Contains(k.PerArea, sc.level) {
		return
	}
	per := strings.Join(k.PerArea, " or ")
	var over []string
	for _, l := range k.PerArea {
		over = append(over, plural(l))
	}
	if sc.level == "" {
		v.add(path, "kind %s runs per %s: put it in a for_each over %s", kind, per, strings.Join(over, " or "))
	} else {
		v.add(path, "kind %s runs per %s, but the enclosing for_each is over %s: put it in a for_each over %s",
			kind, per, plural(sc.level), strings.Join(over, " or "))
	}
}

// param checks one param the kind declares, at path pp, and stores it
// normalised: the given value, else the kind's default, else nothing.
func (v *validator) param(s *Step, k Kind, name, pp string) {
	p := k.Params[name]
	val, given := s.Params[name]
	if !given || val == nil {
		switch {
		case p.Required:
			v.add(pp, "is required by kind %s: %s (%s)", s.Kind, p.Doc, p.Type)
		case p.Default != nil:
			norm, err := normalize(p, p.Default)
			if err != nil {
				v.add(pp, "the default of kind %s is invalid: %v", s.Kind, err)
				return
			}
			s.Params[name] = norm
		default:
			delete(s.Params, name)
		}
		return
	}
	norm, err := normalize(p, val)
	if err != nil {
		v.add(pp, "%v", err)
		return
	}
	s.Params[name] = norm
	if text, ok := norm.(string); ok && p.Type == TypeString {
		v.placeholders(pp, text, k.Placeholders[name], "kind "+s.Kind)
	}
}

// unknownParams reports every param the step gives that its kind does not
// declare.
func (v *validator) unknownParams(s *Step, k Kind, path string) {
	for _, name := range sortedKeys(s.Params) {
		if _, ok := k.Params[name]; ok {
			continue
		}
		if len(k.Params) == 0 {
			v.add(path+".params."+name, "unknown param %q: kind %s takes no params", name, s.Kind)
		} else {
			v.add(path+".params."+name, "unknown param %q for kind %s: want %s", name, s.Kind, strings.Join(sortedKeys(k.Params), ", "))
		}
	}
}

// normalize checks a param value against its type and returns it in the
// form the interpreter reads.
func normalize(p Param, val any) (any, error) {
	switch p.Type {
	case TypeString:
		s, ok := val.(string)
		if !ok {
			return nil, fmt.Errorf("want text, got %v (quote it)", val)
		}
		if p.Required && strings.TrimSpace(s) == "" {
			return nil, fmt.Errorf("must not be empty")
		}
		if len(p.OneOf) > 0 && !slices.Contains(p.OneOf, s) {
			return nil, fmt.Errorf("%q is not one of %s", s, strings.Join(p.OneOf, ", "))
		}
		return s, nil
	case TypeInt:
		switch n := val.(type) {
		case int:
			return n, nil
		case int64:
			if n >= math.MinInt && n <= math.MaxInt {
				return int(n), nil
			}
		case float64:
			if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
				return int(n), nil
			}
		}
		return nil, fmt.Errorf("want a whole number, got %v", quoteText(val))
	case TypeNumber:
		switch n := val.(type) {
		case int:
			return normalize(p, float64(n))
		case int64:
			return normalize(p, float64(n))
		case uint64:
			return normalize(p, float64(n))
		case float64:
			if math.IsNaN(n) || math.IsInf(n, 0) {
				break
			}
			if p.Fraction && (n < 0 || n > 1) {
				return nil, fmt.Errorf("is a fraction from 0 to 1 (0.99 is 99%%), got %g", n)
			}
			return n, nil
		}
		return nil, fmt.Errorf("want a number, got %v", quoteText(val))
	case TypeBool:
		if b, ok := val.(bool); ok {
			return b, nil
		}
		return nil, fmt.Errorf("want true or false, got %v", quoteText(val))
	case TypeDuration:
		s, ok := val.(string)
		if !ok {
			return nil, fmt.Errorf("want a duration such as 90s, 30m, 2h or 3d, got %v", val)
		}
		d, err := ParseDuration(s)
		if err != nil {
			return nil, err
		}
		return d.String(), nil
	}
	return nil, fmt.Errorf("the kind declares an unknown param type %q", p.Type)
}

// quoteText quotes a text value in a message, so that "12" given where a
// number belongs reads as text.
func quoteText(val any) any {
	if s, ok := val.(string); ok {
		return strconv.Quote(s)
	}
	return val
}
