"""The outbox's lanes: replies never dropped, the live stream bounded (oldest out), retained = latest."""

from __future__ import annotations

from operando.telemetry.outbox import Message, Outbox


def test_live_stream_drops_its_oldest_and_counts() -> None:
    outbox = Outbox(live_size=3, event_size=10)
    for index in range(5):
        outbox.put(Message("r/electrochem", str(index).encode(), "live"))
    assert outbox.dropped == 2
    assert [m.payload for m in outbox.take()] == [b"2", b"3", b"4"]


def test_replies_are_never_dropped_and_go_first() -> None:
    outbox = Outbox(live_size=1, event_size=1)
    outbox.put(Message("r/electrochem", b"p", "live"))
    for index in range(50):
        outbox.put(Message("r/replies", str(index).encode(), "reply", 1))
    outbox.put(Message("r/events", b"e", "event", 1))
    taken = outbox.take(limit=1000)
    assert [m.payload for m in taken[:50]] == [str(i).encode() for i in range(50)]
    assert [m.payload for m in taken[50:]] == [b"e", b"p"]
    assert outbox.dropped == 0


def test_retained_topics_keep_only_the_latest_and_are_resent_after_a_reconnect() -> None:
    outbox = Outbox()
    woken = []
    outbox.wakeup = lambda: woken.append(1)
    for state in (b"running", b"paused", b"running again"):
        outbox.put(Message("r/state", state, "retained", 1))
    outbox.put(Message("r/status", b"online", "retained", 1))
    assert [(m.topic, m.payload) for m in outbox.take()] == [("r/state", b"running again"),
                                                              ("r/status", b"online")]
    assert outbox.take() == [] and len(woken) == 4
    outbox.resend_retained()
    assert [m.payload for m in outbox.take()] == [b"running again", b"online"]
    assert all(m.retain for m in outbox.take() + [Message("x", b"", "retained")])


def test_what_the_broker_did_not_take_goes_back_in_order_except_the_live_stream() -> None:
    outbox = Outbox()
    batch = [Message("r/replies", b"1", "reply", 1), Message("r/events", b"2", "event", 1),
             Message("r/electrochem", b"3", "live"), Message("r/state", b"4", "retained", 1)]
    outbox.put(Message("r/events", b"later", "event", 1))
    outbox.put_back(batch)
    assert [m.payload for m in outbox.take()] == [b"1", b"2", b"later"]
