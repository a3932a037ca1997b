"""The WS client's frame reader on a real socket pair: several frames per read, frames split
across reads, long lengths, fragments, a masked frame, control frames, a timeout and EOF."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest
import websocket

from gal_exec.kraken.ws import FrameReader, client_frame

TEXT, PING, CLOSE = 0x1, 0x9, 0x8


def _frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bytes | None = None) -> bytes:
    head = bytes([(0x80 if fin else 0) | opcode])
    flag = 0x80 if mask is not None else 0
    size = len(payload)
    if size < 126:
        head += bytes([flag | size])
    elif size < 65536:
        head += bytes([flag | 126]) + size.to_bytes(2, "big")
    else:
        head += bytes([flag | 127]) + size.to_bytes(8, "big")
    if mask is not None:
        return head + mask + websocket.ABNF.mask(mask, payload)
    return head + payload


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    server, client = socket.socketpair()
    client.settimeout(2.0)
    try:
        yield server, client
    finally:
        server.close()
        client.close()


def test_several_frames_in_one_read_and_one_frame_over_several(pair) -> None:
    server, client = pair
    reader = FrameReader(client)
    server.sendall(_frame(TEXT, b'{"a":1}') + _frame(TEXT, b'{"b":2}'))
    assert reader.next() == (TEXT, b'{"a":1}')
    assert reader.next() == (TEXT, b'{"b":2}')
    big = os.urandom(70_000)
    wire = _frame(TEXT, big)
    server.sendall(wire[:3])
    server.sendall(wire[3:40_000])
    server.sendall(wire[40_000:])
    assert reader.next() == (TEXT, big)
    medium = b"x" * 300
    server.sendall(_frame(TEXT, medium))
    assert reader.next() == (TEXT, medium)


def test_fragments_are_joined_and_control_frames_come_between(pair) -> None:
    server, client = pair
    reader = FrameReader(client)
    server.sendall(
        _frame(TEXT, b'{"par', fin=False)
        + _frame(PING, b"hi")
        + _frame(0x0, b'ts":', fin=False)
        + _frame(0x0, b"3}")
    )
    assert reader.next() == (PING, b"hi")
    assert reader.next() == (TEXT, b'{"parts":3}')


def test_ready_says_whether_a_whole_final_frame_waits_in_the_buffer(pair) -> None:
    server, client = pair
    reader = FrameReader(client)
    assert not reader.ready()
    server.sendall(_frame(TEXT, b"one") + _frame(TEXT, b"two") + _frame(TEXT, b"three")[:4])
    assert reader.next() == (TEXT, b"one")  # one read took all three (the last one in part)
    assert reader.ready()
    assert reader.next() == (TEXT, b"two")
    assert not reader.ready()  # "three" is not whole yet
    server.sendall(_frame(TEXT, b"three")[4:] + _frame(TEXT, b"frag", fin=False))
    assert reader.next() == (TEXT, b"three")
    assert not reader.ready()  # a fragment: the message's end is still to come
    server.sendall(_frame(0x0, b"ment"))
    assert reader.next() == (TEXT, b"fragment")
    assert not reader.ready()


def test_a_masked_frame_is_unmasked(pair) -> None:
    server, client = pair
    server.sendall(_frame(TEXT, b"masked text", mask=b"\x01\x02\x03\x04"))
    assert FrameReader(client).next() == (TEXT, b"masked text")


def test_timeout_close_and_end_of_stream(pair) -> None:
    server, client = pair
    client.settimeout(0.05)
    reader = FrameReader(client)
    server.sendall(_frame(TEXT, b"half")[:3])
    assert reader.next() is None  # the socket's timeout passed without a whole frame
    server.sendall(_frame(TEXT, b"half")[3:] + _frame(CLOSE, b"\x03\xe8bye"))
    assert reader.next() == (TEXT, b"half")
    assert reader.next() == (CLOSE, b"\x03\xe8bye")
    server.shutdown(socket.SHUT_WR)
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        reader.next()


@pytest.mark.parametrize("size", [0, 5, 125, 126, 300, 65535, 65536, 70_000])
def test_client_frames_are_masked_and_read_back_by_a_server(size: int) -> None:
    payload = os.urandom(size)
    wire = client_frame(TEXT, payload)
    frame = websocket.ABNF.create_frame(payload, TEXT)
    assert wire[0] == 0x81 and wire[1] & 0x80  # final text frame, masked
    assert len(wire) == len(frame.format())
    server, client = socket.socketpair()
    try:
        client.sendall(wire)
        server.settimeout(2.0)
        assert FrameReader(server).next() == (TEXT, payload)  # unmasked with its key
    finally:
        server.close()
        client.close()
