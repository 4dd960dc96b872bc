"""The column list of a stored CREATE TABLE statement, edited as ALTER TABLE ADD and
DROP do: the emulator keeps a table as the text that describes it."""

import re

from .cqlparse import CqlError, Parser, quote_ident, tokenize, unquote_ident


def defs(statement):
    """The column list of a stored CREATE TABLE: [(name or None, start, end)] per
    top-level item of its parentheses (None for a PRIMARY KEY (...) clause), as
    character spans of the statement."""
    p = Parser(statement)
    p.take()                                   # CREATE
    p.take()                                   # TABLE
    p.qualified_name()
    p.expect_sym('(')
    items, depth, first, last_end = [], 0, None, None
    while True:
        t = p.take()
        if first is None:
            first = t
        if t.kind == 'sym' and t.text in '([{<':
            depth += 1
        elif t.kind == 'sym' and t.text in ')]}>' and depth > 0:
            depth -= 1
        elif depth == 0 and (t.is_sym(',') or t.is_sym(')')):
            name = None if first.is_word('primary') else unquote_ident(first)
            items.append((name, first.start, last_end))
            first = None
            if t.is_sym(')'):
                return items
        last_end = t.end


def type_of(statement, column):
    """The type of a column of a stored CREATE TABLE, as written there."""
    for name, start, end in defs(statement):
        if name == column:
            text = statement[start:end]
            toks = tokenize(text)
            text = text[toks[1].start:] if len(toks) > 1 else ''
            return re.sub(r'(?i)\s+(static|primary\s+key)\s*$', '', text)
    return None


def drop(statement, column):
    """The CREATE TABLE without the column; CqlError if it is not a plain column."""
    items = defs(statement)
    for i, (name, start, end) in enumerate(items):
        if name != column:
            continue
        if re.search(r'(?i)\bprimary\s+key\b', statement[start:end]) or any(
                n is None and re.search(r'\b%s\b' % re.escape(quote_ident(column)),
                                        statement[s:e]) for n, s, e in items):
            raise CqlError(CqlError.INVALID, 'Cannot drop PRIMARY KEY part %s' % column)
        if i + 1 < len(items):
            return statement[:start] + statement[items[i + 1][1]:]
        return statement[:items[i - 1][2]] + statement[end:]
    raise CqlError(CqlError.INVALID, 'Column %s was not found in table' % column)


def add(statement, column, column_type):
    """The CREATE TABLE with `column column_type` after its last column."""
    items = defs(statement)
    if any(name == column for name, _, _ in items):
        raise CqlError(CqlError.INVALID, 'Invalid column name %s because it conflicts with an '
                       'existing column' % column)
    last = [end for name, _, end in items if name is not None][-1]
    return '%s, %s %s%s' % (statement[:last], quote_ident(column), column_type,
                           statement[last:])
