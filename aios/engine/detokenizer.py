"""Token ids -> text, a few tokens at a time, never splitting a character.

Decoding one token alone can give half of a multi-byte character, or lose a
leading space. So each new piece is the decode of a short window (the last
few ids) minus the decode of that window without the new ids.
"""


class IncrementalDetokenizer:
    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.token_ids: list[int] = []
        self.prefix_offset = 0   # start of the window
        self.read_offset = 0     # ids before this are already in self.text
        self.text = ""

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def push(self, new_ids: list[int]) -> str:
        """Add token ids; return the newly completed text (may be "")."""
        self.token_ids += new_ids
        window = self._decode(self.token_ids[self.prefix_offset:])
        if window.endswith("\ufffd"):      # a character is still incomplete
            return ""
        seen = self._decode(self.token_ids[self.prefix_offset:self.read_offset])
        new_text = window[len(seen):]
        self.prefix_offset, self.read_offset = self.read_offset, len(self.token_ids)
        self.text += new_text
        return new_text


class TokenIdDetokenizer:
    """For a model without a tokenizer (random weights): each token's "text" is
    its id, "<id>", so a stream still carries one visible piece per token."""

    def __init__(self):
        self.text = ""

    def push(self, new_ids: list[int]) -> str:
        new_text = "".join(f"<{t}>" for t in new_ids)
        self.text += new_text
        return new_text


def find_stop(text: str, stops: list[str], new_len: int) -> int:
    """Index in text where the first stop string starts, or -1.

    Only the tail that the last new_len characters could complete is searched.
    """
    best = -1
    for stop in stops:
        i = text.find(stop, max(0, len(text) - new_len - len(stop) + 1))
        if i != -1 and (best == -1 or i < best):
            best = i
    return best
