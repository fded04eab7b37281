package service

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
	"unicode"

	"github.com/go-playground/validator/v10"

	"github.com/esign-webhooks/esign-webhooks/internal/edge/egress"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// newValidator registers our rules on go-playground/validator, with JSON
// field names in errors.
func (s *Service) newValidator() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			return ""
		}
		return name
	})
	must(v.RegisterValidation("eventtype", func(fl validator.FieldLevel) bool { return events.IsSubscribable(fl.Field().String()) }))
	must(v.RegisterValidation("triggersource", func(fl validator.FieldLevel) bool {
		return events.IsTriggerSource(fl.Field().String())
	}))
	must(v.RegisterValidation("callbackurl", func(fl validator.FieldLevel) bool {
		return s.checkCallbackURL(fl.Field().String()) == nil
	}))
	must(v.RegisterValidation("noticetype", func(fl validator.FieldLevel) bool { return isNoticeType(fl.Field().String()) }))
	must(v.RegisterValidation("notblank", func(fl validator.FieldLevel) bool {
		return strings.TrimSpace(fl.Field().String()) != ""
	}))
	// PostgreSQL text cannot hold NUL: without this rule a name or label
	// with \u0000 was a 500. Other control characters are refused with it.
	must(v.RegisterValidation("nocontrol", func(fl validator.FieldLevel) bool {
		return !strings.ContainsFunc(fl.Field().String(), unicode.IsControl)
	}))
	return v
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// check validates in and returns an Invalid error naming each invalid
// field, or nil.
func (s *Service) check(in any) error {
	err := s.validate.Struct(in)
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return err
	}
	fields := map[string]string{}
	for _, fe := range verrs {
		name := fieldPath(fe)
		if _, seen := fields[name]; !seen {
			fields[name] = s.message(fe)
		}
	}
	return invalidFields(fields)
}

// fieldPath drops the struct name and any index: "eventTypes[2]" → "eventTypes".
func fieldPath(fe validator.FieldError) string {
	ns := fe.Namespace()
	if _, rest, ok := strings.Cut(ns, "."); ok {
		ns = rest
	}
	if i := strings.IndexByte(ns, '['); i >= 0 {
		ns = ns[:i]
	}
	return ns
}

func (s *Service) message(fe validator.FieldError) string {
	switch fe.Field() {
	case "maxConcurrency":
		return "must be a whole number from 1 to 100"
	case "rateLimitPerSecond":
		return rateMessage
	case "ttlSeconds":
		return "must be between 1 and 900 seconds"
	case "gracePeriodSeconds":
		return "must be between 0 and 604800 seconds (7 days)"
	}
	switch fe.Tag() {
	case "required", "notblank":
		return "is required"
	case "min":
		if fe.Kind() == reflect.Slice {
			return "must not be empty"
		}
		return fmt.Sprintf("must be at least %s characters", fe.Param())
	case "max":
		if fe.Kind() == reflect.Slice {
			return fmt.Sprintf("must have at most %s items", fe.Param())
		}
		if fe.Field() == "url" {
			return fmt.Sprintf("must be at most %s bytes", fe.Param())
		}
		return fmt.Sprintf("must be at most %s characters", fe.Param())
	case "unique":
		return "must not repeat a value"
	case "eventtype":
		return fmt.Sprintf("unknown event type %q (see GET /v1/event-types)", fe.Value())
	case "triggersource":
		return fmt.Sprintf("unknown trigger source %q: use saas_page or third_party_app", fe.Value())
	case "callbackurl":
		return s.checkCallbackURL(fmt.Sprint(fe.Value())).Error()
	case "oneof":
		if fe.Field() == "orderedOnFailure" {
			return "must be continue (the next event goes after a give-up) or hold (it waits until the failed one is resent and succeeds, or released)"
		}
		return "must be one of: " + strings.ReplaceAll(fe.Param(), " ", ", ")
	case "noticetype":
		return fmt.Sprintf("unknown notice %q: one of %s", fe.Value(), strings.Join(NoticeTypes, ", "))
	case "email":
		return fmt.Sprintf("%q is not an e-mail address", fe.Value())
	case "nocontrol":
		return "must not contain control characters"
	case "printascii":
		return "must be printable ASCII"
	}
	return "is invalid (" + fe.Tag() + ")"
}

const maxURLBytes = 2048

// checkCallbackURL applies the save-time URL rules. The connect-time check in
// egress is what really stops SSRF (DNS can change); this one gives the admin
// an early, clear answer.
func (s *Service) checkCallbackURL(raw string) error {
	// In bytes: the validator's max counts characters, so a URL of 2048
	// multibyte characters passed it.
	if len(raw) > maxURLBytes {
		return fmt.Errorf("must be at most %d bytes", maxURLBytes)
	}
	u, err := url.Parse(raw)
	// Hostname, not Host: "https://:443/" has a Host but no host name.
	if err != nil || !u.IsAbs() || u.Hostname() == "" {
		return errors.New("must be an absolute URL such as https://example.com/webhooks")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && s.cfg.AllowHTTP:
	default:
		return errors.New("must use https://")
	}
	if u.User != nil {
		return errors.New("must not contain user information (user:password@)")
	}
	if u.Fragment != "" {
		return errors.New("must not contain a fragment (#...)")
	}
	host := u.Hostname()
	if addr, err := netip.ParseAddr(host); err == nil {
		if egress.IsBlocked(addr.Unmap(), s.cfg.AllowCIDRs) {
			return errors.New("must point at a public address")
		}
	} else if isLocalName(host) && !allowsLoopback(s.cfg.AllowCIDRs) {
		return errors.New("must point at a public address")
	}
	if port := u.Port(); port != "" {
		if _, err := net.LookupPort("tcp", port); err != nil {
			return errors.New("has an invalid port")
		}
	}
	return nil
}

func isLocalName(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return host == "localhost" || strings.HasSuffix(host, ".localhost") || strings.HasSuffix(host, ".local") ||
		strings.HasSuffix(host, ".internal")
}

func allowsLoopback(allow []netip.Prefix) bool {
	return !egress.IsBlocked(netip.MustParseAddr("127.0.0.1"), allow)
}
