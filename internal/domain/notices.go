package domain

// Delivery states of a notice on one channel.
const (
	DeliveryPending     = "pending"
	DeliverySent        = "sent"
	DeliveryDelivered   = "delivered"
	DeliveryUndelivered = "undelivered"
)

// DeliveryStates lists the states in the order a notice moves through them.
var DeliveryStates = []string{DeliveryPending, DeliverySent, DeliveryDelivered, DeliveryUndelivered}

// MessageRunbookText is the message key of a runbook notice written in
// several languages: its args hold the text per locale ("en", "zh-CN"),
// its body the English text for any other locale.
const MessageRunbookText = "runbook-text"
