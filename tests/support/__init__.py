"""What the suites share: the desk built as `helpdesk serve` builds it, and the desks each
platform's tests drive it through."""
