package chaos

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/restclient"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
)

// ReceiversResult is the receivers scenario's own check, beside the fault
// suite's (Result).
type ReceiversResult struct {
	Proxy     string          `json:"proxy"`
	TokenTTLS float64         `json:"tokenTtlS"`
	TokenDown []span          `json:"tokenEndpointDown"`
	ProxyDown []span          `json:"proxyDown"`
	Receivers []ReceiverCheck `json:"receivers"`
	Token     tokenStats      `json:"tokenEndpoint"`
	OAuth     OAuthCheck      `json:"oauth2"`
	ProxyFail FaultTrace      `json:"proxyFailures"`
	Schedule  ScheduleCheck   `json:"schedule"`
	LogFields LogFieldsCheck  `json:"attemptConnection"`
	Thin      ThinCheck       `json:"thin"`
	Secrets   SecretsCheck    `json:"secrets"`
	Problems  []string        `json:"problems,omitempty"`
}

// ReceiverCheck is what one receiver's checks (ReceiverSpec.Expect) found.
type ReceiverCheck struct {
	Name       string   `json:"name"`
	Posts      int      `json:"posts"`
	Mismatches int      `json:"wrongPosts"`
	Examples   []string `json:"examples,omitempty"`
}

// FaultTrace counts attempts that failed because of a fault, and those
// that did so outside the fault's span (which must be none).
type FaultTrace struct {
	Attempts int      `json:"attempts"`
	Outside  int      `json:"outsideTheWindow"`
	Examples []string `json:"examples,omitempty"`
}

// OAuthCheck: the oauth2 webhook's attempts that failed for want of a
// token, and what became of their deliveries.
type OAuthCheck struct {
	TokenFailures FaultTrace `json:"tokenFailures"`
	// Deliveries with a token failure, and those of them that did not end
	// succeeded once the endpoint was back.
	Hit          int `json:"deliveriesHit"`
	NotRecovered int `json:"deliveriesNotRecovered"`
	// SucceededBlind: attempts answered 2xx that started while no token
	// could be had (the endpoint down longer than a token lives): must be
	// none.
	SucceededBlind int `json:"succeededWithoutAFreshToken"`
}

// ScheduleCheck is the schedule webhook's deliveries against its own
// schedule and timeout.
type ScheduleCheck struct {
	Attempts      int      `json:"attemptsPerDelivery"`
	Deliveries    int      `json:"deliveries"`
	GaveUpRight   int      `json:"gaveUpAsScheduled"`
	Wrong         int      `json:"otherwise"`
	Answered500   int      `json:"attemptsAnswered500"`
	TimedOut      int      `json:"attemptsTimedOut"`
	TimeoutMaxMS  int      `json:"timedOutMaxMs"`
	OverGlobal    int      `json:"timedOutAtTheGlobalTimeout"`
	GlobalTimeout string   `json:"globalTimeout"`
	Examples      []string `json:"examples,omitempty"`
}

// LogFieldsCheck is every attempt row's proxy and client certificate.
type LogFieldsCheck struct {
	Rows      int `json:"rows"`
	WrongProx int `json:"wrongProxy"`
	WithCert  int `json:"withTheClientCertificate"`
	WrongCert int `json:"wrongCertificate"`
}

// ThinCheck: events fetched with a reader key against what was published.
type ThinCheck struct {
	Fetched     int      `json:"eventsFetched"`
	Differing   int      `json:"dataDiffering"`
	FetchErrors int      `json:"fetchErrors"`
	Examples    []string `json:"examples,omitempty"`
}

// SecretsCheck: the secrets searched for, where, and where they were found.
type SecretsCheck struct {
	Secrets      int      `json:"secrets"`
	LogBytes     int      `json:"logBytes"`
	Answers      int      `json:"apiAnswers"`
	AnswerBytes  int      `json:"apiAnswerBytes"`
	Histories    int      `json:"temporalHistories"`
	HistoryBytes int      `json:"historyBytes"`
	Errors       []string `json:"errors,omitempty"`
	Found        []string `json:"found,omitempty"`
}

// Failed says whether the run must fail (see judge).
func (v *ReceiversResult) Failed() bool { return len(v.Problems) > 0 }

// verify is Config.Verify of the scenario.
func (sc *receiversScenario) verify(ctx context.Context, r *Run, in Input, accepted []string) *ReceiversResult {
	v := &ReceiversResult{Proxy: sc.proxy.Addr(), TokenTTLS: sc.ro.tokenTTL.Seconds(), TokenDown: sc.tokenDown,
		ProxyDown: sc.proxyDown, Token: sc.tokens.stats()}
	hooks := map[string]string{}
	for _, rc := range r.Receivers {
		hooks[rc.Name] = rc.WebhookID()
		n, ex := rc.Mismatches()
		v.Receivers = append(v.Receivers, ReceiverCheck{Name: rc.Name, Posts: len(rc.Posts()), Mismatches: n, Examples: ex})
	}
	sc.checkOAuth(v, in.Deliveries, hooks["oauth2"])
	sc.checkProxyFailures(v, in.Deliveries)
	v.Problems = append(v.Problems, sc.checkSchedule(ctx, v, r.DB, hooks["schedule-timeout"])...)
	if err := sc.checkLogFields(ctx, v, r.DB, r.Account.AccountID, hooks["mtls"]); err != nil {
		v.Problems = append(v.Problems, "reading the attempts' proxy and certificate: "+err.Error())
	}
	api := &apiReader{admin: &restclient.Client{BaseURL: r.Webhookd.APIURL, Key: r.Account.APIKey,
		HTTP: &http.Client{Timeout: 10 * time.Second}}}
	sc.checkThin(ctx, v, api, accepted)
	sc.checkSecrets(ctx, v, r, api, hooks, in.Deliveries, accepted)
	v.judge()
	return v
}

func (sc *receiversScenario) inWindow(ws []span, t time.Time) bool {
	for _, w := range ws {
		if w.holds(t, 2*time.Second) {
			return true
		}
	}
	return false
}

// checkOAuth: the oauth2 webhook's attempts that failed for the token
// happened while the token endpoint (or the proxy it is reached through)
// was down, their deliveries succeeded afterwards, and no attempt
// succeeded while no fresh token could be had.
func (sc *receiversScenario) checkOAuth(v *ReceiversResult, dels []Delivery, webhookID string) {
	o := &v.OAuth
	for _, d := range dels {
		if d.WebhookID != webhookID {
			continue
		}
		hit := false
		for _, a := range d.Attempts {
			if is2xx(a.ResponseStatus) && sc.noFreshToken(a.StartedAt) {
				o.SucceededBlind++
			}
			if !strings.HasPrefix(a.Error, "oauth2 token endpoint") {
				continue
			}
			hit = true
			o.TokenFailures.Attempts++
			if !sc.inWindow(sc.tokenDown, a.StartedAt) && !sc.inWindow(sc.proxyDown, a.StartedAt) {
				o.TokenFailures.Outside++
				o.TokenFailures.Examples = addExample(o.TokenFailures.Examples,
					fmt.Sprintf("delivery %s attempt %d at %s: %s", d.ID, a.Number, a.StartedAt.Format(time.RFC3339Nano), a.Error))
			} else {
				o.TokenFailures.Examples = addExample(o.TokenFailures.Examples, a.Error)
			}
		}
		if hit {
			o.Hit++
			if d.Status != StatusSucceeded {
				o.NotRecovered++
			}
		}
	}
}

// noFreshToken says whether t falls where the token endpoint had been
// down longer than a token lives (so no cached token was left), a second
// either side.
func (sc *receiversScenario) noFreshToken(t time.Time) bool {
	for _, w := range sc.tokenDown {
		from, to := w.From.Add(sc.ro.tokenTTL+time.Second), w.To.Add(-time.Second)
		if t.After(from) && t.Before(to) {
			return true
		}
	}
	return false
}

// checkProxyFailures: attempts that failed at the proxy itself (dialling
// it, or its CONNECT exchange cut) all happened while it was down. (A
// CONNECT the proxy refused because the target is down, the token
// endpoint's outage, is not the proxy's failure.)
func (sc *receiversScenario) checkProxyFailures(v *ReceiversResult, dels []Delivery) {
	p := &v.ProxyFail
	for _, d := range dels {
		for _, a := range d.Attempts {
			if !proxyFailure(a.Error) {
				continue
			}
			p.Attempts++
			if !sc.inWindow(sc.proxyDown, a.StartedAt) {
				p.Outside++
				p.Examples = addExample(p.Examples, fmt.Sprintf("delivery %s at %s: %s", d.ID, a.StartedAt.Format(time.RFC3339Nano), a.Error))
			} else {
				p.Examples = addExample(p.Examples, a.Error)
			}
		}
	}
}

// proxyFailure says whether an attempt's error is the proxy's own failure
// (egress.proxyDialer's words): it could not be dialled, or the CONNECT
// exchange broke.
func proxyFailure(err string) bool {
	for _, s := range []string{"dialling proxy ", "CONNECT to proxy ", "CONNECT answer of proxy "} {
		if strings.Contains(err, s) {
			return true
		}
	}
	return false
}

// checkSchedule: every delivery of the schedule webhook ended failed,
// "gave up after N attempts" with attempt numbers 1..N exactly (N its
// own schedule's), each attempt answered 500 or timed out at the
// webhook's own timeout, well before the global one.
func (sc *receiversScenario) checkSchedule(ctx context.Context, v *ReceiversResult, db *sql.DB, webhookID string) []string {
	s := &v.Schedule
	s.Attempts, s.GlobalTimeout = len(scheduleWaits)+1, sc.ro.timeout
	global, _ := time.ParseDuration(sc.ro.timeout)
	want := fmt.Sprintf("gave up after %d attempts", s.Attempts)
	rows, err := db.QueryContext(ctx, `SELECT d.id::text, d.status, d.status_reason,
			count(DISTINCT a.number), coalesce(min(a.number), 0), coalesce(max(a.number), 0)
		FROM deliveries d LEFT JOIN attempts a ON a.delivery_id = d.id AND a.series = d.series
		WHERE d.webhook_id = $1 GROUP BY d.id, d.status, d.status_reason`, webhookID)
	if err != nil {
		return []string{"reading the schedule webhook's deliveries: " + err.Error()}
	}
	for rows.Next() {
		var id, status, reason string
		var n, lo, hi int
		if err := rows.Scan(&id, &status, &reason, &n, &lo, &hi); err != nil {
			rows.Close()
			return []string{err.Error()}
		}
		s.Deliveries++
		if status == StatusFailed && reason == want && n == s.Attempts && lo == 1 && hi == s.Attempts {
			s.GaveUpRight++
		} else {
			s.Wrong++
			s.Examples = addExample(s.Examples, fmt.Sprintf("%s: %s %q, attempts %d..%d (%d numbers)", id, status, reason, lo, hi, n))
		}
	}
	rows.Close()
	err = db.QueryRowContext(ctx, `SELECT
			count(*) FILTER (WHERE a.response_status = 500),
			count(*) FILTER (WHERE a.error LIKE 'timeout:%'),
			coalesce(max(a.duration_ms) FILTER (WHERE a.error LIKE 'timeout:%'), 0),
			count(*) FILTER (WHERE a.error LIKE 'timeout:%' AND a.duration_ms >= $2)
		FROM attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.webhook_id = $1`,
		webhookID, global.Milliseconds()).Scan(&s.Answered500, &s.TimedOut, &s.TimeoutMaxMS, &s.OverGlobal)
	if err != nil {
		return []string{"reading the schedule webhook's attempts: " + err.Error()}
	}
	return nil
}

// checkLogFields: every attempt row names the proxy, and exactly the mtls
// webhook's name its client certificate.
func (sc *receiversScenario) checkLogFields(ctx context.Context, v *ReceiversResult, db *sql.DB, accountID, mtlsID string) error {
	rows, err := db.QueryContext(ctx, `SELECT d.webhook_id::text, a.proxy, a.client_cert_sha256, count(*)
		FROM attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.account_id = $1 GROUP BY 1, 2, 3`, accountID)
	if err != nil {
		return err
	}
	defer rows.Close()
	f := &v.LogFields
	for rows.Next() {
		var hook, proxy, cert string
		var n int
		if err := rows.Scan(&hook, &proxy, &cert, &n); err != nil {
			return err
		}
		f.Rows += n
		if proxy != sc.proxy.Addr() {
			f.WrongProx += n
		}
		wantCert := ""
		if hook == mtlsID {
			wantCert = sc.clientFP
		}
		switch {
		case cert != wantCert:
			f.WrongCert += n
		case cert != "":
			f.WithCert += n
		}
	}
	return rows.Err()
}

// apiReader reads the API as the account's admin, keeping every answer
// for the secrets search.
type apiReader struct {
	admin   *restclient.Client
	answers [][]byte
	errs    []string
}

// get fetches path as c (the admin when nil) and keeps the answer.
func (a *apiReader) get(ctx context.Context, c *restclient.Client, path string) []byte {
	if c == nil {
		c = a.admin
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+path, nil)
	if err != nil {
		a.errs = append(a.errs, err.Error())
		return nil
	}
	req.Header.Set("Authorization", "Bearer "+c.Key)
	res, err := c.HTTP.Do(req)
	if err != nil {
		a.errs = append(a.errs, "GET "+path+": "+err.Error())
		return nil
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	a.answers = append(a.answers, b)
	if res.StatusCode != http.StatusOK {
		a.errs = append(a.errs, fmt.Sprintf("GET %s: HTTP %d", path, res.StatusCode))
		return nil
	}
	return b
}

// checkThin fetches a sample of the events with a reader key (what a thin
// webhook's receiver does) and compares their data with what was
// published.
func (sc *receiversScenario) checkThin(ctx context.Context, v *ReceiversResult, api *apiReader, accepted []string) {
	t := &v.Thin
	key, err := api.admin.CreateAPIKey(ctx, "reader", "chaos thin receiver")
	if err != nil {
		t.FetchErrors++
		t.Examples = addExample(t.Examples, "creating a reader key: "+err.Error())
		return
	}
	reader := *api.admin
	reader.Key = key
	for _, id := range sample(accepted, 50) {
		b := api.get(ctx, &reader, "/v1/events/"+id)
		var ev struct {
			Data map[string]any `json:"data"`
		}
		if b == nil || json.Unmarshal(b, &ev) != nil {
			t.FetchErrors++
			t.Examples = addExample(t.Examples, "GET /v1/events/"+id+" with a reader key failed")
			continue
		}
		t.Fetched++
		i, err := strconv.Atoi(id[strings.LastIndex(id, "-")+1:])
		want := receiversEventData(i)
		if err != nil || ev.Data["signerEmail"] != want["signerEmail"] || ev.Data["envelopeId"] != want["envelopeId"] {
			t.Differing++
			t.Examples = addExample(t.Examples, fmt.Sprintf("event %s: data %v", id, ev.Data))
		}
	}
}

// secretsOf is every secret of the run by name: what must appear in no
// log, answer or history.
func (sc *receiversScenario) secretsOf() map[string]string {
	s := map[string]string{"custom header secret": sc.header, "Basic password": sc.password, "Bearer token": sc.bearer,
		"OAuth 2.0 client secret": sc.clientSecret, "proxy password": sc.proxy.pass}
	for i, line := range strings.Split(strings.TrimSpace(sc.client.KeyPEM), "\n") {
		if !strings.HasPrefix(line, "-----") {
			s[fmt.Sprintf("client key PEM line %d", i)] = line
		}
	}
	for _, tok := range sc.tokens.tokens() {
		s["OAuth 2.0 access token "+tok[strings.LastIndex(tok, "-")+1:]] = tok
	}
	return s
}

// checkSecrets searches webhookd's logs, the API's answers (the webhooks,
// the delivery log, events) and a sample of Temporal histories for every
// secret.
func (sc *receiversScenario) checkSecrets(ctx context.Context, v *ReceiversResult, r *Run, api *apiReader,
	hooks map[string]string, dels []Delivery, accepted []string) {
	s := &v.Secrets
	secrets := sc.secretsOf()
	s.Secrets = len(secrets)
	search := func(where string, b []byte) {
		text := string(b)
		for name, val := range secrets {
			if strings.Contains(text, val) {
				s.Found = append(s.Found, where+": "+name)
			}
		}
	}
	logs, _ := filepath.Glob(filepath.Join(sc.dir, "webhookd-*.log"))
	for _, path := range logs {
		b, err := os.ReadFile(path)
		if err != nil {
			s.Errors = append(s.Errors, err.Error())
			continue
		}
		s.LogBytes += len(b)
		search(filepath.Base(path), b)
	}

	api.get(ctx, nil, "/v1/webhooks")
	for _, name := range sortedKeys(hooks) {
		api.get(ctx, nil, "/v1/webhooks/"+hooks[name])
		api.get(ctx, nil, "/v1/deliveries?limit=100&webhookId="+hooks[name])
	}
	for _, id := range sampleDeliveries(dels, 30) {
		api.get(ctx, nil, "/v1/deliveries/"+id)
	}
	for _, id := range sample(accepted, 5) {
		api.get(ctx, nil, "/v1/events/"+id)
	}
	for i, b := range api.answers {
		s.Answers++
		s.AnswerBytes += len(b)
		search(fmt.Sprintf("API answer %d", i), b)
	}
	s.Errors = append(s.Errors, api.errs...)

	for _, wf := range sc.historySample(r.Account.AccountID, dels, accepted) {
		h, err := sc.history(ctx, wf)
		if err != nil {
			s.Errors = append(s.Errors, err.Error())
			continue
		}
		s.Histories++
		s.HistoryBytes += len(h)
		search("history of "+wf, h)
	}
	sort.Strings(s.Found)
}

// historySample is the event workflows whose histories are searched: the
// events of oauth2 deliveries hit by the token endpoint's outage first,
// then events spread over the run.
func (sc *receiversScenario) historySample(accountID string, dels []Delivery, accepted []string) []string {
	seen := map[string]bool{}
	var events []string
	add := func(id string) {
		if !seen[id] && len(events) < sc.ro.histories {
			seen[id] = true
			events = append(events, id)
		}
	}
	for _, d := range dels {
		for _, a := range d.Attempts {
			if strings.HasPrefix(a.Error, "oauth2 token endpoint") && len(events) < sc.ro.histories/3 {
				add(d.EventID)
			}
		}
	}
	for _, id := range sample(accepted, sc.ro.histories) {
		add(id)
	}
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = flow.EventWorkflowID(accountID, e)
	}
	return out
}

// history is a workflow's history as the Temporal CLI prints it (JSON,
// payloads included).
func (sc *receiversScenario) history(ctx context.Context, workflowID string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, sc.o.temporalCLI, "workflow", "show", "--workflow-id", workflowID,
		"--address", fmt.Sprintf("127.0.0.1:%d", sc.o.temporalPort), "--output", "json").Output()
	if err != nil {
		return nil, fmt.Errorf("temporal workflow show %s: %w", workflowID, err)
	}
	if !strings.Contains(string(out), "Deliver") {
		return nil, fmt.Errorf("temporal workflow show %s: no Deliver step in %d bytes", workflowID, len(out))
	}
	return out, nil
}

// sample is at most n of ids, spread evenly, first and last included.
func sample(ids []string, n int) []string {
	if len(ids) <= n {
		return ids
	}
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, ids[i*(len(ids)-1)/(n-1)])
	}
	return out
}

// sampleDeliveries is at most n delivery ids: those with a failed
// attempt first (their errors are what might quote a secret), then the
// rest.
func sampleDeliveries(dels []Delivery, n int) []string {
	var failed, rest []string
	for _, d := range dels {
		bad := false
		for _, a := range d.Attempts {
			bad = bad || a.Error != ""
		}
		if bad {
			failed = append(failed, d.ID)
		} else {
			rest = append(rest, d.ID)
		}
	}
	out := sample(failed, n/2)
	return append(out, sample(rest, n-len(out))...)
}

// judge lists what fails the run: a wrong POST, a fault without a trace
// in the log or with one outside its span, a delivery of the schedule
// webhook that did not give up as scheduled, a misnamed proxy or
// certificate, a thin event not fetched as published, a secret found, or
// nothing searched.
func (v *ReceiversResult) judge() {
	add := func(cond bool, format string, args ...any) {
		if cond {
			v.Problems = append(v.Problems, fmt.Sprintf(format, args...))
		}
	}
	for _, rc := range v.Receivers {
		add(rc.Posts == 0, "receiver %s got no POST", rc.Name)
		add(rc.Mismatches > 0, "receiver %s: %d POSTs not as they should be (e.g. %s)", rc.Name, rc.Mismatches, strings.Join(rc.Examples, "; "))
	}
	t, o := v.Token, v.OAuth
	add(t.Refused > 0 || t.Direct > 0, "token endpoint: %d requests refused, %d not through the proxy (%s)", t.Refused, t.Direct, strings.Join(t.Examples, "; "))
	add(o.TokenFailures.Attempts == 0, "no oauth2 attempt failed for the token: the token endpoint's outage went unseen")
	add(o.TokenFailures.Outside > 0, "%d oauth2 attempts failed for the token outside the outages (e.g. %s)", o.TokenFailures.Outside, strings.Join(o.TokenFailures.Examples, "; "))
	add(o.NotRecovered > 0, "%d oauth2 deliveries hit by the token outage did not succeed afterwards", o.NotRecovered)
	add(o.SucceededBlind > 0, "%d oauth2 attempts succeeded while no fresh token could be had", o.SucceededBlind)
	p := v.ProxyFail
	add(p.Attempts == 0, "no attempt failed at the proxy: tinyproxy's outage went unseen")
	add(p.Outside > 0, "%d attempts failed at the proxy outside its outage (e.g. %s)", p.Outside, strings.Join(p.Examples, "; "))
	s := v.Schedule
	add(s.Deliveries == 0 || s.Wrong > 0, "schedule webhook: %d of %d deliveries did not end \"gave up after %d attempts\" with attempts 1..%d (e.g. %s)",
		s.Wrong, s.Deliveries, s.Attempts, s.Attempts, strings.Join(s.Examples, "; "))
	add(s.Answered500 == 0 || s.TimedOut == 0, "schedule webhook: %d attempts answered 500, %d timed out: both must happen", s.Answered500, s.TimedOut)
	add(s.OverGlobal > 0, "schedule webhook: %d attempts timed out at the global timeout %s, not its own %d s", s.OverGlobal, s.GlobalTimeout, scheduleTimeoutS)
	f := v.LogFields
	add(f.Rows == 0 || f.WrongProx > 0 || f.WrongCert > 0 || f.WithCert == 0,
		"attempt rows: %d of %d name another proxy than %s, %d another client certificate (%d with the mtls one)", f.WrongProx, f.Rows, v.Proxy, f.WrongCert, f.WithCert)
	th := v.Thin
	add(th.Fetched == 0 || th.Differing > 0 || th.FetchErrors > 0, "thin: %d events fetched with a reader key, %d differing from what was published, %d not fetched (%s)",
		th.Fetched, th.Differing, th.FetchErrors, strings.Join(th.Examples, "; "))
	sec := v.Secrets
	add(len(sec.Found) > 0, "secrets found: %s", strings.Join(sec.Found, "; "))
	add(sec.LogBytes == 0 || sec.Answers == 0 || sec.Histories == 0 || len(sec.Errors) > 0,
		"secrets search: %d log bytes, %d answers, %d histories searched; errors: %s", sec.LogBytes, sec.Answers, sec.Histories, strings.Join(sec.Errors, "; "))
}

// Rows is the receivers check's part of the report table.
func (v *ReceiversResult) Rows() [][2]string {
	var posts []string
	for _, rc := range v.Receivers {
		posts = append(posts, fmt.Sprintf("%s %d / %d", rc.Name, rc.Posts, rc.Mismatches))
	}
	t, o, p, s, f, th, sec := v.Token, v.OAuth, v.ProxyFail, v.Schedule, v.LogFields, v.Thin, v.Secrets
	return [][2]string{
		{"POSTs / not as they should be (headers, credentials, certificate, payload, through the proxy)", strings.Join(posts, "; ")},
		{"token endpoint: requests / tokens issued (valid s) / refused / not through the proxy / POSTs with an expired token",
			fmt.Sprintf("%d / %d (%g) / %d / %d / %d", t.Requests, t.Issued, v.TokenTTLS, t.Refused, t.Direct, t.Expired)},
		{"oauth2 attempts failed for the token (outside the outages) / deliveries hit (not recovered) / 2xx without a fresh token",
			fmt.Sprintf("%d (%d) / %d (%d) / %d", o.TokenFailures.Attempts, o.TokenFailures.Outside, o.Hit, o.NotRecovered, o.SucceededBlind)},
		{"attempts failed at the proxy (outside its outage)", fmt.Sprintf("%d (%d)", p.Attempts, p.Outside)},
		{fmt.Sprintf("schedule webhook: deliveries / gave up after %d attempts, 1..%d / otherwise", s.Attempts, s.Attempts),
			fmt.Sprintf("%d / %d / %d", s.Deliveries, s.GaveUpRight, s.Wrong)},
		{"schedule webhook: attempts answered 500 / timed out (max ms) / timed out at the global " + s.GlobalTimeout,
			fmt.Sprintf("%d / %d (%d) / %d", s.Answered500, s.TimedOut, s.TimeoutMaxMS, s.OverGlobal)},
		{"attempt rows / naming another proxy than " + v.Proxy + " / with the mtls certificate / another certificate",
			fmt.Sprintf("%d / %d / %d / %d", f.Rows, f.WrongProx, f.WithCert, f.WrongCert)},
		{"thin: events fetched with a reader key / data differing / not fetched", fmt.Sprintf("%d / %d / %d", th.Fetched, th.Differing, th.FetchErrors)},
		{"secrets found / searched (log MB, API answers, Temporal histories)",
			fmt.Sprintf("%d / %d secrets (%.1f MB, %d answers %.1f MB, %d histories %.1f MB)", len(sec.Found), sec.Secrets,
				float64(sec.LogBytes)/(1<<20), sec.Answers, float64(sec.AnswerBytes)/(1<<20), sec.Histories, float64(sec.HistoryBytes)/(1<<20))},
	}
}

// print writes the examples and problems.
func (v *ReceiversResult) print(w io.Writer) {
	for _, rc := range v.Receivers {
		if len(rc.Examples) > 0 {
			fmt.Fprintf(w, "receiver %s, e.g.: %s\n", rc.Name, strings.Join(rc.Examples, "; "))
		}
	}
	for _, l := range []struct {
		name string
		ex   []string
	}{{"token failures", v.OAuth.TokenFailures.Examples}, {"proxy failures", v.ProxyFail.Examples},
		{"schedule webhook", v.Schedule.Examples}, {"thin", v.Thin.Examples}} {
		if len(l.ex) > 0 {
			fmt.Fprintf(w, "%s, e.g.: %s\n", l.name, strings.Join(l.ex, "; "))
		}
	}
	for _, p := range v.Problems {
		fmt.Fprintf(w, "receivers: %s\n", p)
	}
}
