package main

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/gomerge/gomerge/chat"
	"github.com/gomerge/gomerge/kraken"
)

func init() { chatBackendOpeners = append(chatBackendOpeners, openKrakenChat) }

// krakenChat is the chat backend of a Kraken directory: for each
// conversation the router picks the expert, which answers with its own
// chat template. Each expert keeps its engine, and so its key/value
// cache, across turns.
type krakenChat struct {
	k       *kraken.Kraken
	mu      sync.Mutex
	engines map[string]*chatEngine
}

// openKrakenChat opens path if it is a Kraken (OUT of gomerge kraken, or
// its kraken_model).
func openKrakenChat(_ context.Context, path string) (chatBackend, bool, error) {
	if !kraken.IsKraken(path) {
		return nil, false, nil
	}
	k, err := kraken.Open(path, kraken.Options{Logger: newLogger(os.Stderr, 0)})
	if err != nil {
		return nil, true, err
	}
	return &krakenChat{k: k, engines: map[string]*chatEngine{}}, true, nil
}

// Engine routes msgs and returns the chosen expert's engine.
func (b *krakenChat) Engine(_ context.Context, msgs []chat.Message) (*chatEngine, string, error) {
	r, err := b.k.RouteMessages(msgs)
	if err != nil {
		return nil, "", fmt.Errorf("route: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.engines[r.Expert]; ok {
		return e, r.Expert, nil
	}
	ex, err := b.k.Expert(r.Expert)
	if err != nil {
		return nil, "", err
	}
	e, err := newChatEngine(ex.Model, ex.TokDir)
	if err != nil {
		return nil, "", fmt.Errorf("expert %s: %w", r.Expert, err)
	}
	b.engines[r.Expert] = e
	return e, r.Expert, nil
}
