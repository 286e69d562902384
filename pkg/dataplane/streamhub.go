package dataplane

import (
	"context"
	"errors"
	"sync"

	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
)

// subscriberBuffer is how many messages a subscriber may fall behind before it is dropped
// (a slow client must not hold up the others or grow dpa's memory).
const subscriberBuffer = 256

// streamHub runs one RunStream per channel and fans its messages out to every subscriber,
// as Grafana Live does: the channel is the plugin, namespace, datasource and path; the first
// subscriber's data, user and settings start RunStream; later subscribers are checked by
// their own SubscribeStream call and then join. The stream stops when its last subscriber
// leaves.
type streamHub struct {
	mu      sync.Mutex
	streams map[streamKey]*sharedStream
}

type streamKey struct{ plugin, namespace, uid, path string }

type sharedStream struct {
	key    streamKey
	cancel context.CancelFunc
	subs   map[*subscriber]struct{} // guarded by hub.mu
	ended  bool                     // guarded by hub.mu: RunStream has returned
}

// subscriber is one client of a shared stream. ch is closed when the stream ends (err says
// why, nil when the plugin ended it) or the subscriber was dropped.
type subscriber struct {
	ch  chan []byte
	err error
}

// errSlowSubscriber ends a subscription that fell subscriberBuffer messages behind.
var errSlowSubscriber = errors.New("the subscriber fell too far behind the stream and was dropped")

// join adds a subscriber to key's stream, starting it with start when there is none. The
// stream's context keeps parent's values (trace, user) but not its cancellation: it outlives
// the subscriber that started it. start's error is returned as is (no stream is left behind).
func (h *streamHub) join(parent context.Context, key streamKey, start func(ctx context.Context) (pluginv2.Stream_RunStreamClient, error)) (*subscriber, *sharedStream, error) {
	sub := &subscriber{ch: make(chan []byte, subscriberBuffer)}
	h.mu.Lock()
	if s, ok := h.streams[key]; ok && !s.ended {
		s.subs[sub] = struct{}{}
		h.mu.Unlock()
		return sub, s, nil
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	s := &sharedStream{key: key, cancel: cancel, subs: map[*subscriber]struct{}{sub: {}}}
	if h.streams == nil {
		h.streams = map[streamKey]*sharedStream{}
	}
	h.streams[key] = s
	h.mu.Unlock()

	run, err := start(ctx)
	if err != nil {
		h.end(s, err)
		return nil, nil, err
	}
	go h.pump(s, run)
	return sub, s, nil
}

// pump forwards RunStream's messages until it ends.
func (h *streamHub) pump(s *sharedStream, run pluginv2.Stream_RunStreamClient) {
	for {
		pkt, err := run.Recv()
		if err != nil {
			h.end(s, err)
			return
		}
		h.broadcast(s, pkt.Data)
	}
}

// broadcast hands data to every subscriber of s; one that is too far behind is dropped.
func (h *streamHub) broadcast(s *sharedStream, data []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range s.subs {
		select {
		case sub.ch <- data:
		default:
			sub.err = errSlowSubscriber
			delete(s.subs, sub)
			close(sub.ch)
		}
	}
}

// publish hands data to the subscribers of key's stream, if it runs (Grafana publishes a
// PublishStream reply's data into the channel).
func (h *streamHub) publish(key streamKey, data []byte) {
	h.mu.Lock()
	s, ok := h.streams[key]
	h.mu.Unlock()
	if ok {
		h.broadcast(s, data)
	}
}

// end closes every subscriber of s with err and forgets s.
func (h *streamHub) end(s *sharedStream, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s.ended = true
	if h.streams[s.key] == s {
		delete(h.streams, s.key)
	}
	for sub := range s.subs {
		sub.err = err
		delete(s.subs, sub)
		close(sub.ch)
	}
	s.cancel()
}

// leave removes sub from s; the last one to leave stops RunStream.
func (h *streamHub) leave(s *sharedStream, sub *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := s.subs[sub]; !ok {
		return
	}
	delete(s.subs, sub)
	if len(s.subs) == 0 && !s.ended {
		s.ended = true
		if h.streams[s.key] == s {
			delete(h.streams, s.key)
		}
		s.cancel()
	}
}
