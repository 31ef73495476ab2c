package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wneessen/go-mail"
)

// Header names of the generic webhook.
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderTimestamp      = "X-Muster-Timestamp"
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256 of
	// timestamp + "." + body under the channel's secret.
	HeaderSignature = "X-Muster-Signature"
)

// Result is what one attempt at one message came to.
type Result struct {
	// Outcome is sent, delivered, retry or undelivered.
	Outcome   string
	Status    int
	ReceiptID string
	Err       string
	// RetryAfter is the receiver's requested wait (Retry-After, or a
	// robot's rate-limit answer); zero when it gave none.
	RetryAfter time.Duration
}

const outcomeRetry = "retry"

// send delivers msgs (more than one only for a batching webhook) to a
// channel's target and returns one result per message.
func send(ctx context.Context, hc *http.Client, ch *Channel, target string, msgs []Message, now time.Time) []Result {
	endpoint := ch.URL
	if target != "" {
		endpoint = ch.Targets[target]
	}
	var r Result
	switch ch.Type {
	case TypeWebhook:
		return sendWebhook(ctx, hc, ch, endpoint, msgs, now)
	case TypeWeCom:
		r = sendRobot(ctx, hc, endpoint, wecomBody(ch, msgs[0]), wecomRetryable)
	case TypeDingTalk:
		u, err := dingTalkURL(endpoint, ch.Secret, now)
		if err != nil {
			r = Result{Outcome: "undelivered", Err: err.Error()}
			break
		}
		r = sendRobot(ctx, hc, u, dingTalkBody(ch, msgs[0]), dingTalkRetryable)
	case TypeSMS:
		to := ch.To
		if target != "" {
			to = splitList(ch.Targets[target])
			endpoint = ch.URL
		}
		r = sendSMS(ctx, hc, ch, endpoint, to, msgs[0])
	case TypeSMTP:
		to := ch.To
		if target != "" {
			to = splitList(ch.Targets[target])
		}
		r = sendMail(ctx, ch, to, msgs[0])
	default:
		r = Result{Outcome: "undelivered", Err: "unknown channel type " + ch.Type}
	}
	return []Result{r}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// webhookNotice is one notice as the generic webhook posts it.
type webhookNotice struct {
	IdempotencyKey string `json:"idempotency_key"`
	NoticeID       int64  `json:"notice_id"`
	Incident       string `json:"incident"`
	Kind           string `json:"kind"`
	Audience       string `json:"audience"`
	Area           string `json:"area,omitempty"`
	Target         string `json:"target,omitempty"`
	Locale         string `json:"locale"`
	Title          string `json:"title"`
	Text           string `json:"text"`
}

// WebhookBatch is the body of a batched webhook request.
type WebhookBatch struct {
	Notices []webhookNotice `json:"notices"`
}

// Sign returns the signature header value of a webhook body.
func Sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func sendWebhook(ctx context.Context, hc *http.Client, ch *Channel, endpoint string, msgs []Message, now time.Time) []Result {
	items := make([]webhookNotice, len(msgs))
	keys := make([]string, len(msgs))
	for i, m := range msgs {
		items[i] = webhookNotice{IdempotencyKey: m.Key, NoticeID: m.NoticeID, Incident: m.Incident, Kind: m.Kind,
			Audience: m.Audience, Area: m.Area, Target: m.Target, Locale: m.Locale, Title: m.Title, Text: m.Text}
		keys[i] = m.Key
	}
	var body []byte
	key := keys[0]
	if len(msgs) == 1 && ch.Batch <= 1 {
		body, _ = json.Marshal(items[0])
	} else {
		body, _ = json.Marshal(WebhookBatch{Notices: items})
		// A batch's own key names its members, so a retried batch of the
		// same notices carries the same key; each member keeps its own too.
		sum := sha256.Sum256([]byte(strings.Join(keys, "\n")))
		key = "batch-" + hex.EncodeToString(sum[:12])
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return repeat(Result{Outcome: "undelivered", Err: "bad url: " + err.Error()}, len(msgs))
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderIdempotencyKey, key)
	req.Header.Set(HeaderTimestamp, ts)
	if ch.Secret != "" {
		req.Header.Set(HeaderSignature, Sign(ch.Secret, ts, body))
	}
	resp, err := hc.Do(req)
	if err != nil {
		return repeat(Result{Outcome: outcomeRetry, Err: shortErr(err)}, len(msgs))
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	r := classifyHTTP(resp, raw, now)
	if r.Outcome != "sent" {
		return repeat(r, len(msgs))
	}
	// A 2xx from the receiver confirms it has the notice: delivered. Its
	// message IDs come as {"id": …} or {"receipts": {key: id}}.
	var ack struct {
		ID       string            `json:"id"`
		Receipts map[string]string `json:"receipts"`
	}
	json.Unmarshal(raw, &ack)
	out := make([]Result, len(msgs))
	for i, m := range msgs {
		id := ack.Receipts[m.Key]
		if id == "" {
			id = ack.ID
		}
		if id == "" {
			id = resp.Header.Get("X-Message-Id")
		}
		out[i] = Result{Outcome: "delivered", Status: resp.StatusCode, ReceiptID: id}
	}
	return out
}

func repeat(r Result, n int) []Result {
	out := make([]Result, n)
	for i := range out {
		out[i] = r
	}
	return out
}

// classifyHTTP turns an HTTP answer into an outcome: 2xx sent, 429 and 5xx
// retried (after Retry-After when given), 408 retried, any other 4xx
// undelivered for a person to look at.
func classifyHTTP(resp *http.Response, body []byte, now time.Time) Result {
	r := Result{Status: resp.StatusCode}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		r.Outcome = "sent"
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode >= 500:
		r.Outcome = outcomeRetry
		r.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), now)
		r.Err = fmt.Sprintf("HTTP %d %s", resp.StatusCode, snippet(body))
	default:
		r.Outcome = "undelivered"
		r.Err = fmt.Sprintf("HTTP %d %s", resp.StatusCode, snippet(body))
	}
	return r
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// wecomBody is a WeCom group robot message: msgtype text or markdown.
func wecomBody(ch *Channel, m Message) any {
	if ch.Format == "text" {
		return map[string]any{"msgtype": "text", "text": map[string]string{"content": m.Title + "\n" + m.Text}}
	}
	return map[string]any{"msgtype": "markdown", "markdown": map[string]string{"content": "**" + m.Title + "**\n" + m.Text}}
}

// WeCom answers {"errcode": 45009} when a robot sends more than its limit
// (20 a minute) and -1 when busy; both are retried after a minute.
func wecomRetryable(code int) bool { return code == 45009 || code == -1 }

// dingTalkBody is a DingTalk group robot message: msgtype text or markdown.
func dingTalkBody(ch *Channel, m Message) any {
	if ch.Format == "text" {
		return map[string]any{"msgtype": "text", "text": map[string]string{"content": m.Title + "\n" + m.Text}}
	}
	return map[string]any{"msgtype": "markdown", "markdown": map[string]string{"title": m.Title, "text": "#### " + m.Title + "\n" + m.Text}}
}

// DingTalk answers 130101 when a robot sends too fast and -1 when busy.
func dingTalkRetryable(code int) bool { return code == 130101 || code == -1 }

// dingTalkURL adds a signed robot's timestamp and sign parameters: the
// base64 HMAC-SHA256 of timestamp + "\n" + secret under the secret.
func dingTalkURL(endpoint, secret string, now time.Time) (string, error) {
	if secret == "" {
		return endpoint, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("bad url: %w", err)
	}
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	q := u.Query()
	q.Set("timestamp", ts)
	q.Set("sign", DingTalkSign(secret, ts))
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// DingTalkSign is the sign parameter of a signed DingTalk robot.
func DingTalkSign(secret, timestamp string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp + "\n" + secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// sendRobot posts a group robot message. Both robots answer HTTP 200 with
// {"errcode": 0, "errmsg": "ok"} on success; a message in a group is as
// delivered as that channel can say.
func sendRobot(ctx context.Context, hc *http.Client, endpoint string, payload any, retryable func(int) bool) Result {
	body, _ := json.Marshal(payload)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return Result{Outcome: "undelivered", Err: "bad url: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return Result{Outcome: outcomeRetry, Err: shortErr(err)}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	r := classifyHTTP(resp, raw, time.Now())
	if r.Outcome != "sent" {
		return r
	}
	var ans struct {
		ErrCode *int   `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil || ans.ErrCode == nil {
		return Result{Outcome: "undelivered", Status: resp.StatusCode, Err: "robot answered without errcode: " + snippet(raw)}
	}
	switch {
	case *ans.ErrCode == 0:
		return Result{Outcome: "delivered", Status: resp.StatusCode}
	case retryable(*ans.ErrCode):
		return Result{Outcome: outcomeRetry, Status: resp.StatusCode, RetryAfter: time.Minute,
			Err: fmt.Sprintf("errcode %d %s", *ans.ErrCode, ans.ErrMsg)}
	default:
		return Result{Outcome: "undelivered", Status: resp.StatusCode, Err: fmt.Sprintf("errcode %d %s", *ans.ErrCode, ans.ErrMsg)}
	}
}

// sendSMS posts to an HTTP SMS gateway: {"to": [...], "message": ...,
// "reference": key} with a bearer token, and reads {"message_id": ...}. The
// gateway accepting a message is "sent": the handset's receipt is the
// gateway's to report.
func sendSMS(ctx context.Context, hc *http.Client, ch *Channel, endpoint string, to []string, m Message) Result {
	text := fill(ch.Template, map[string]string{"title": m.Title, "text": m.Text})
	body, _ := json.Marshal(map[string]any{"to": to, "message": text, "reference": m.Key})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return Result{Outcome: "undelivered", Err: "bad url: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderIdempotencyKey, m.Key)
	if ch.Secret != "" {
		req.Header.Set("Authorization", "Bearer "+ch.Secret)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Result{Outcome: outcomeRetry, Err: shortErr(err)}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	r := classifyHTTP(resp, raw, time.Now())
	if r.Outcome == "sent" {
		var ans struct {
			MessageID string `json:"message_id"`
		}
		json.Unmarshal(raw, &ans)
		r.ReceiptID = ans.MessageID
	}
	return r
}

// sendMail sends one notice by SMTP. Its Message-ID is made from the
// idempotency key, so a mail resent after a lost answer is the same message
// to every mail system that deduplicates on it.
func sendMail(ctx context.Context, ch *Channel, to []string, m Message) Result {
	u, err := url.Parse(ch.URL)
	if err != nil || u.Hostname() == "" {
		return Result{Outcome: "undelivered", Err: "bad smtp url"}
	}
	opts := []mail.Option{mail.WithTimeout(ch.Timeout), mail.WithHELO("muster")}
	port := 25
	if p := u.Port(); p != "" {
		port, _ = strconv.Atoi(p)
	}
	switch u.Scheme {
	case "smtps":
		opts = append(opts, mail.WithSSL())
		if u.Port() == "" {
			port = 465
		}
	case "smtp":
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	default:
		return Result{Outcome: "undelivered", Err: "smtp url scheme must be smtp or smtps"}
	}
	opts = append(opts, mail.WithPort(port))
	if u.User != nil {
		pw, _ := u.User.Password()
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthPlain), mail.WithUsername(u.User.Username()), mail.WithPassword(pw))
	}
	c, err := mail.NewClient(u.Hostname(), opts...)
	if err != nil {
		return Result{Outcome: "undelivered", Err: shortErr(err)}
	}
	msg := mail.NewMsg()
	if err := msg.From(ch.From); err != nil {
		return Result{Outcome: "undelivered", Err: "from: " + shortErr(err)}
	}
	if err := msg.To(to...); err != nil {
		return Result{Outcome: "undelivered", Err: "to: " + shortErr(err)}
	}
	msg.Subject(m.Title)
	msg.SetMessageIDWithValue(m.Key + "@muster")
	msg.SetGenHeader("X-Idempotency-Key", m.Key)
	msg.SetDate()
	msg.SetBodyString(mail.TypeTextPlain, m.Text)
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		var se *mail.SendError
		code := 0
		if errors.As(err, &se) {
			code = se.ErrorCode()
			if !se.IsTemp() && code >= 500 {
				return Result{Outcome: "undelivered", Status: code, Err: shortErr(err)}
			}
		}
		return Result{Outcome: outcomeRetry, Status: code, Err: shortErr(err)}
	}
	// The relay took it (250): sent; whether it reached the inbox is
	// beyond what SMTP answers.
	return Result{Outcome: "sent", Status: 250, ReceiptID: m.Key + "@muster"}
}
