package console

import (
	"errors"
	"net/http"
	"strings"

	"github.com/esign-webhooks/esign-webhooks/internal/api/resource"
	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/notify"
	"github.com/esign-webhooks/esign-webhooks/internal/service"
)

// The notification channels page (admins): the account's channels with
// their last result, "send test notice" and delete, and a form to add one.
// Every action calls the service the REST API calls.

// channelForm is the add form as sent, and its field errors.
type channelForm struct {
	Name, Kind, Language, Recipients, URL string
	NoticeTypes                           []string
	Fields                                map[string]string
}

func (f *channelForm) read(r *http.Request) {
	f.Name, f.Kind, f.Language = r.PostFormValue("name"), r.PostFormValue("kind"), r.PostFormValue("language")
	f.Recipients, f.URL = r.PostFormValue("recipients"), strings.TrimSpace(r.PostFormValue("url"))
	f.NoticeTypes = r.PostForm["noticeTypes"]
}

// input is the form as the service takes it: recipients one a line or
// comma-separated; an empty secret is none.
func (f *channelForm) input(secret string) service.ChannelInput {
	in := service.ChannelInput{Name: f.Name, Kind: f.Kind, Language: f.Language, URL: f.URL, NoticeTypes: f.NoticeTypes}
	in.Recipients = strings.FieldsFunc(f.Recipients, func(c rune) bool { return c == ',' || c == '\n' || c == '\r' || c == ' ' })
	if secret != "" {
		in.Secret = &secret
	}
	if in.NoticeTypes == nil {
		in.NoticeTypes = []string{} // none ticked: the service's default, all
	}
	return in
}

// channelsPage is what the page shows.
type channelsPage struct {
	Channels    []resource.Channel
	Form        *channelForm
	Kinds       []string
	Languages   []string
	NoticeTypes []string
	Tested      string // the id of the channel a test was just sent to
	TestError   *service.Error
}

func (c *Console) channelsWith(w http.ResponseWriter, r *http.Request, s *session, status int, p *channelsPage, pageErr *service.Error) {
	chs, err := c.svc.Channels(r.Context(), s.caller)
	if err != nil {
		c.failed(w, r, s, err)
		return
	}
	for _, ch := range chs {
		p.Channels = append(p.Channels, resource.FromChannel(ch))
	}
	if p.Form == nil {
		p.Form = &channelForm{Language: language(r), NoticeTypes: service.NoticeTypes, Fields: map[string]string{}}
	}
	p.Kinds, p.Languages, p.NoticeTypes = notify.Kinds, notify.Languages, service.NoticeTypes
	c.render(w, r, s, status, "channels", &page{Data: p, Error: pageErr})
}

func (c *Console) channels(w http.ResponseWriter, r *http.Request, s *session) {
	c.channelsWith(w, r, s, http.StatusOK, &channelsPage{}, nil)
}

// addChannel creates a channel from the form; a refusal shows the form
// again with each field's error.
func (c *Console) addChannel(w http.ResponseWriter, r *http.Request, s *session) {
	f := &channelForm{}
	f.read(r)
	_, err := c.svc.CreateChannel(r.Context(), s.caller, f.input(r.PostFormValue("secret")))
	var e *service.Error
	switch {
	case err == nil:
		http.Redirect(w, r, "/console/channels?done=channelAdded", http.StatusSeeOther)
	case errors.As(err, &e) && e.Kind != service.PlanNotSupported && e.Kind != service.Forbidden:
		f.Fields = e.Fields
		pageErr := e
		if len(e.Fields) > 0 {
			pageErr = nil
		}
		c.channelsWith(w, r, s, e.Kind.Status(), &channelsPage{Form: f}, pageErr)
	default:
		c.failed(w, r, s, err)
	}
}

// testChannel sends a test notice and shows the page with its outcome.
func (c *Console) testChannel(w http.ResponseWriter, r *http.Request, s *session) {
	id, err := service.ParseID(r.PathValue("id"), "notification channel")
	var res service.ChannelTest
	if err == nil {
		res, err = c.svc.TestChannel(r.Context(), s.caller, id)
	}
	if err != nil {
		if e := inPage(err); e != nil {
			c.channelsWith(w, r, s, e.Kind.Status(), &channelsPage{}, e)
			return
		}
		c.failed(w, r, s, err)
		return
	}
	c.channelsWith(w, r, s, http.StatusOK, &channelsPage{Tested: res.Channel.ID.String(), TestError: res.Err}, nil)
}

func (c *Console) deleteChannel(w http.ResponseWriter, r *http.Request, s *session) {
	id, err := service.ParseID(r.PathValue("id"), "notification channel")
	if err == nil {
		err = c.svc.DeleteChannel(r.Context(), s.caller, id)
	}
	if err != nil {
		c.failed(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/console/channels?done=channelDeleted", http.StatusSeeOther)
}

// channelEdit is the edit page: the channel as stored — never its URL or
// signing secret, which are write-only (left empty, the stored ones are
// kept) — the form as sent, and each field's error.
type channelEdit struct {
	Channel     resource.Channel
	Form        *channelForm
	Enabled     bool
	Languages   []string
	NoticeTypes []string
}

// pathChannel is the channel the path names; on a failure it has answered.
func (c *Console) pathChannel(w http.ResponseWriter, r *http.Request, s *session) (db.Channel, bool) {
	id, err := service.ParseID(r.PathValue("id"), "notification channel")
	var ch db.Channel
	if err == nil {
		ch, _, err = c.svc.Channel(r.Context(), s.caller, id)
	}
	if err != nil {
		c.failed(w, r, s, err)
		return ch, false
	}
	return ch, true
}

// editChannel shows the edit form, filled in with the channel.
func (c *Console) editChannel(w http.ResponseWriter, r *http.Request, s *session) {
	ch, ok := c.pathChannel(w, r, s)
	if !ok {
		return
	}
	f := &channelForm{Name: ch.Name, Kind: ch.Kind, Language: ch.Language, Recipients: strings.Join(ch.Recipients, "\n"),
		NoticeTypes: ch.NoticeTypes, Fields: map[string]string{}}
	c.renderChannelEdit(w, r, s, http.StatusOK, ch, f, ch.Enabled, nil)
}

func (c *Console) renderChannelEdit(w http.ResponseWriter, r *http.Request, s *session, status int, ch db.Channel, f *channelForm, enabled bool, pageErr *service.Error) {
	p := &channelEdit{Channel: resource.FromChannel(ch), Form: f, Enabled: enabled, Languages: notify.Languages,
		NoticeTypes: service.NoticeTypes}
	f.URL = "" // write-only: never rendered back, not even as typed
	c.render(w, r, s, status, "channel_edit", &page{Data: p, Error: pageErr})
}

// patch is the edit form as the service takes it: an empty URL or secret
// keeps the stored one; "remove the signing secret" removes it.
func (f *channelForm) patch(kind, secret string, removeSecret, enabled bool) service.ChannelPatch {
	p := service.ChannelPatch{Name: &f.Name, Language: &f.Language, NoticeTypes: f.NoticeTypes, Enabled: &enabled}
	if kind == notify.Email {
		in := f.input("")
		p.Recipients = in.Recipients
		if p.Recipients == nil {
			p.Recipients = []string{} // none: the service says they are required
		}
	}
	if f.URL != "" {
		p.URL = &f.URL
	}
	switch {
	case secret != "":
		p.Secret = &secret
	case removeSecret:
		p.Secret = new(string)
	}
	return p
}

// updateChannel saves the edit form; a refusal shows it again with each
// field's error.
func (c *Console) updateChannel(w http.ResponseWriter, r *http.Request, s *session) {
	ch, ok := c.pathChannel(w, r, s)
	if !ok {
		return
	}
	f := &channelForm{Fields: map[string]string{}}
	f.read(r)
	f.Kind = ch.Kind
	enabled := r.PostFormValue("enabled") == "true"
	if len(f.NoticeTypes) == 0 {
		// An empty list would be a channel that gets nothing: "disabled"
		// says so plainly.
		f.Fields["noticeTypes"] = (&page{c: c, Lang: language(r)}).T("channels.notices.none")
		c.renderChannelEdit(w, r, s, http.StatusUnprocessableEntity, ch, f, enabled, nil)
		return
	}
	_, err := c.svc.UpdateChannel(r.Context(), s.caller, ch.ID,
		f.patch(ch.Kind, r.PostFormValue("secret"), r.PostFormValue("removeSecret") == "true", enabled))
	var e *service.Error
	switch {
	case err == nil:
		http.Redirect(w, r, "/console/channels?done=channelUpdated", http.StatusSeeOther)
	case errors.As(err, &e) && e.Kind != service.PlanNotSupported && e.Kind != service.Forbidden && e.Kind != service.NotFound:
		f.Fields = e.Fields
		pageErr := e
		if len(e.Fields) > 0 {
			pageErr = nil
		}
		c.renderChannelEdit(w, r, s, e.Kind.Status(), ch, f, enabled, pageErr)
	default:
		c.failed(w, r, s, err)
	}
}
