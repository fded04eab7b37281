package flow

import "time"

// Notices to people (issue 23): one NoticeDigest workflow per channel and
// webhook gathers the notices the channel is owed about that webhook. The
// first is sent at once; those that come within Window of a send go out
// together, as one digest, when the window ends.
const (
	NoticeDigestWorkflow = "NoticeDigest"
	// NoticeSignal carries a Notice to the workflow (signal-with-start).
	NoticeSignal = "notice"
)

// NoticeDigestInput is a NoticeDigest workflow's input. Pending carries
// notices not yet sent across a continue-as-new.
type NoticeDigestInput struct {
	ChannelID  string
	WebhookKey string // the webhook's id, or "" for a notice about none
	Window     time.Duration
	Pending    []string
}

// Notice names one channel_notices row.
type Notice struct {
	ID string
}

// NoticeWorkflowID is the id of the digest workflow of a channel's
// notices about a webhook.
func NoticeWorkflowID(channelID, webhookKey string) string {
	if webhookKey == "" {
		webhookKey = "account"
	}
	return "notices/" + channelID + "/" + webhookKey
}
