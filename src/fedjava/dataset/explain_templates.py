"""The sentences of :mod:`fedjava.dataset.explain`: per operator, per observed failure, a few phrasings.

``REASONS["operator"]`` (or ``"operator:case"`` for an operator with sub-cases, read from its ``case``
fact) maps a failure key (see :meth:`~fedjava.dataset.explain.Observed.keys`) to phrasings. Placeholders:
the operator's facts (see each operator in ``mutate_*.py``), ``{line}`` (the reported line), ``{fix_line}``
(the changed line), ``{call}``, ``{expected}``, ``{actual}``, ``{exception}``, ``{detail}``,
``{paren_detail}`` (`` (detail)`` or nothing), ``{message}``, ``{result}`` ("call gives A instead of B"),
``{effect}`` (a "so ..." clause for any failure) and a few derived words (``{does}``, ``{should}``,
``{opposite}``, ``{instead}``, ``{needed_args}``, ``{given_args}``, ``{symbol}``, ``{lossy_from}``,
``{lossy_to}``; ``{by_zero}`` is empty and present only when the exception says "/ by zero").

A sentence keyed on a failure may say why that failure follows from the change; an ``any`` sentence only
says what the change does and adds ``{effect}``, so it is true whatever was observed. Every sentence names
``line {fix_line}``, which the fix check reads as a place to try the fix.
"""

from __future__ import annotations


class Short(str):
    """A phrasing used only when none of the others for the same failure can be filled (some fact is missing
    or too long): it names less of the code."""


_INDEX = "exception:index"
_WRONG = "wrong_output"

REASONS: dict[str, dict[str, list[str]]] = {
    # ------------------------------------------------------------------ syntax
    "missing_semicolon": {
        "compile:compiler.err.expected": [
            "`{statement}` on line {fix_line} does not end with `;`, and every Java statement must, so javac cannot "
            "tell where it stops.",
            "The statement `{statement}` on line {fix_line} is missing its closing `;`: without it javac cannot see "
            "where this statement ends and the next one begins.",
            "Line {fix_line} forgets the `;` after `{statement}`; Java needs a semicolon at the end of every "
            "statement.",
            Short(
                "Line {fix_line} is missing the `;` that ends its statement, so javac cannot tell where the "
                "statement stops."
            ),
        ],
        "any": [
            "`{statement}` on line {fix_line} is missing its closing `;`, {effect}.",
            Short("The statement on line {fix_line} is missing its closing `;`, {effect}."),
        ],
    },
    "missing_closing_brace": {
        "compile:compiler.err.premature.eof": [
            "The `}}` that closes `{header} {{` (line {header_line}) is missing before line {fix_line}, so the braces "
            "no longer balance and javac reaches the end of the file with a block still open.",
            "A `}}` is missing before line {fix_line}: the block of `{header}` is never closed, so javac runs out of "
            "file at line {line} still waiting for it.",
            Short(
                "A `}}` is missing before line {fix_line}, so the block opened on line {header_line} never ends and "
                "javac reaches the end of the file (line {line}) with it still open."
            ),
        ],
        "compile": [
            "The `}}` that should close `{header} {{` (line {header_line}) is missing before line {fix_line}, so every "
            "later `}}` closes the wrong block and javac trips over it at line {line}.",
            "Line {fix_line} needs the `}}` that ends the block of `{header}`; without it the braces after it pair up "
            "wrongly, which javac reports at line {line}.",
            Short(
                "A `}}` is missing before line {fix_line}: the block opened on line {header_line} never ends there, "
                "so the braces after it pair up wrongly and javac fails at line {line}."
            ),
        ],
    },
    "missing_opening_brace": {
        "compile:compiler.err.illegal.start.of.type": [
            "`{header}` on line {fix_line} has lost its `{{`, so the `}}` meant for its block closes an outer one, the "
            "method ends too early, and line {line} is left outside any method, where statements are not allowed.",
            "Without the `{{` after `{header}` on line {fix_line}, the braces no longer pair up: the method is closed "
            "too soon and javac finds code at line {line} where only declarations may stand.",
            Short(
                "The {keyword} on line {fix_line} has lost its `{{`, so the braces no longer pair up: the method is "
                "closed too soon and javac finds code at line {line} where only declarations may stand."
            ),
        ],
        "compile:compiler.err.variable.not.allowed": [
            "Without its `{{`, `{header}` on line {fix_line} controls only the next statement, and that statement is a "
            "declaration, which Java does not allow there.",
            Short(
                "The {keyword} on line {fix_line} has lost its `{{`, so it controls only the next statement, and a "
                "declaration cannot stand alone there."
            ),
        ],
        "compile:compiler.err.else.without.if": [
            "Without its `{{`, `{header}` on line {fix_line} controls only the next statement, and the `}}` meant for "
            "its block ends an outer one, so the `else` at line {line} follows no if.",
        ],
        "compile": [
            "`{header}` on line {fix_line} is missing its `{{`; without it the block's statements and braces no longer "
            "pair up, and javac fails at line {line} ({message}).",
            Short(
                "The {keyword} on line {fix_line} is missing its `{{`; without it the block's statements and braces "
                "no longer pair up, and javac fails at line {line} ({message})."
            ),
        ],
    },
    "missing_close_paren:condition": {
        "compile": [
            "`{code}` on line {fix_line} is missing the `)` that closes the {keyword} condition, so javac cannot tell "
            "where the condition ends.",
            "The `(` after `{keyword}` on line {fix_line} is never closed: the condition must read `{code}`, with its "
            "`)` before the `{{`.",
            Short(
                "The {keyword} condition on line {fix_line} is missing its closing `)`, so javac cannot tell where "
                "the condition ends."
            ),
        ],
    },
    "missing_close_paren:call": {
        "compile:compiler.err.expected": [
            "Line {fix_line} opens one more `(` than it closes: every `(` needs its `)`, so it should read `{code};`.",
            "A `)` is missing on line {fix_line}: every `(` needs its `)`, and `{code}` closes them all.",
            Short("Line {fix_line} opens one more `(` than it closes, so the statement never gets its last `)`."),
        ],
        "compile": [
            "A `)` is missing on line {fix_line}: every `(` needs its `)`, and `{code}` closes them all.",
            Short("Line {fix_line} opens one more `(` than it closes, so the statement cannot be parsed."),
        ],
    },
    "extra_close_paren:condition": {
        "compile": [
            "`{code}` on line {fix_line} is followed by an extra `)`: the condition is already closed, so the second "
            "`)` matches nothing and javac cannot read the line.",
            "Line {fix_line} has one `)` too many after `{code}`; every `)` must close a `(`.",
            Short(
                "The {keyword} condition on line {fix_line} is followed by an extra `)`, which closes nothing, so "
                "javac cannot read the line."
            ),
        ],
    },
    "extra_close_paren:call": {
        "compile": [
            "Line {fix_line} has one `)` too many after `{code}`: every `(` is already closed, so the extra `)` "
            "matches nothing and javac cannot read the statement.",
            "The `))` at the end of `{code}` on line {fix_line} has one `)` more than there are `(`, so the statement "
            "no longer parses.",
            Short(
                "Line {fix_line} closes one `)` more than it opens: the extra `)` matches nothing, so javac cannot "
                "read the statement."
            ),
        ],
    },
    "unclosed_string": {
        "compile:compiler.err.unclosed.str.lit": [
            'The string that should be `{literal}` on line {fix_line} has no closing `"`, so javac reads the rest of '
            "the line as text and the string never ends.",
            "On line {fix_line} the text `{literal}` is missing its closing double quote; a Java string must end on "
            "the line where it starts.",
        ],
    },
    "misspelled_keyword": {
        "compile": [
            "`{wrote}` on line {fix_line} is not a Java keyword, so javac reads it as an ordinary name and cannot make "
            "sense of the line; the keyword is `{meant}`.",
            "Java keywords are spelled exactly and in lower case: `{wrote}` on line {fix_line} must be `{meant}`, "
            "otherwise javac takes it for a name and cannot make sense of the line.",
        ],
    },
    "else_without_if": {
        "compile:compiler.err.else.without.if": [
            "The `;` right after `{condition}` on line {fix_line} is an empty statement that ends the if, so the block "
            "below runs every time and the `else` on line {line} has no if to belong to.",
            "`{condition};` on line {fix_line} ends the if at the `;`: the block that follows is no longer part of it, "
            "so javac finds the `else` on line {line} without an if.",
            Short(
                "The `;` after the if condition on line {fix_line} ends the if early, so the block below always runs "
                "and the `else` on line {line} has no if to belong to."
            ),
        ],
    },
    "assign_for_equals": {
        "compile:compiler.err.prob.found.req": [
            "`{left} = {right}` in the {keyword} condition on line {fix_line} is an assignment, not a comparison, and "
            "its value is not the boolean a condition needs; comparing takes `==`.",
            "Line {fix_line} writes `=` (assign) where the {keyword} condition needs `==` (compare): `{left} = "
            "{right}` does not give a true or false.",
            Short(
                "The {keyword} condition on line {fix_line} uses `=`, which assigns, where `==`, which compares, is "
                "needed; an assignment does not give the true or false a condition needs."
            ),
        ],
        "compile:compiler.err.unexpected.type": [
            "`{left} = {right}` on line {fix_line} tries to assign to `{left}`, which is a value, not a variable; the "
            "{keyword} condition needs `==` to compare them.",
            Short(
                "The {keyword} condition on line {fix_line} uses `=`, which tries to store into what stands on its "
                "left, a value and not a variable; comparing takes `==`."
            ),
        ],
        "compile:compiler.err.cant.assign.val.to.final.var": [
            "`{left} = {right}` on line {fix_line} tries to change `{left}`, which cannot be assigned; the {keyword} "
            "condition meant to compare with `==`.",
            Short(
                "The {keyword} condition on line {fix_line} uses `=`, which tries to change something that cannot be "
                "assigned; comparing takes `==`."
            ),
        ],
        "compile": [
            "`=` on line {fix_line} assigns where the {keyword} condition needs `==` to compare `{left}` with "
            "`{right}`; javac rejects line {line}: {message}.",
            Short(
                "`=` on line {fix_line} assigns where the {keyword} condition needs `==` to compare; javac rejects "
                "line {line}: {message}."
            ),
        ],
    },
    "for_header_comma": {
        "compile": [
            "The for header on line {fix_line} has `,` after `{init}` where a `;` belongs: its three parts are "
            "separated by two semicolons, so javac cannot read it.",
            "In the for loop on line {fix_line}, `{init}` must be followed by `;`, not `,`: a for header is start; "
            "condition; update.",
            Short(
                "The for header on line {fix_line} has `,` where its first `;` belongs: a for header is start; "
                "condition; update, separated by semicolons."
            ),
        ],
    },
    # ------------------------------------------------------------------ compile
    "misspelled_variable": {
        "compile:compiler.err.cant.resolve.location": [
            "`{wrote}` on line {fix_line} is a typo for `{meant}`: no variable called `{wrote}` exists, so javac "
            "cannot find it.",
            "Line {fix_line} uses `{wrote}`, but the variable is named `{meant}`; Java names must match their "
            "declaration exactly.",
            "Java does not know `{wrote}` on line {fix_line} because nothing of that name is declared: the variable is "
            "`{meant}`.",
        ],
    },
    "misspelled_method": {
        "compile": [
            "`{wrote}` on line {fix_line} is not the name of any method here; the method is `{meant}`, and Java names "
            "must be spelled exactly, upper and lower case included.",
            "Line {fix_line} calls `{wrote}`, which does not exist: the method is called `{meant}`.",
        ],
    },
    "length_confusion:array": {
        "compile": [
            "`{target}` is an array, and an array's size is the field `{meant}`, without parentheses; `{wrote}` on "
            "line {fix_line} calls a method that arrays do not have.",
            "Line {fix_line} writes `{wrote}`, but `{target}` is an array: its size is `{meant}` (a field, no "
            "parentheses); `length()` is a String method.",
        ],
    },
    "length_confusion:string": {
        "compile": [
            "`{target}` is not an array: its length comes from the method call `{meant}`, with parentheses, so "
            "`{wrote}` on line {fix_line} looks for a field that does not exist.",
            "Line {fix_line} writes `{wrote}`, but only arrays have a `length` field; for `{target}` the length is "
            "`{meant}`.",
        ],
    },
    "length_confusion:collection": {
        "compile": [
            "`{target}` is a collection, whose size is `{meant}`; `{wrote}` on line {fix_line} only exists for arrays.",
            "Line {fix_line} asks for `{wrote}`, but a collection has no `length`: its number of elements is "
            "`{meant}`.",
        ],
    },
    "type_mismatch:number": {
        "compile:compiler.err.prob.found.req": [
            '`{name}` is declared as {type} but line {fix_line} gives it `"{value}"`: the quotes make it a String, '
            "and a String is not a number.",
            'On line {fix_line}, `"{value}"` in double quotes is text, not the number {value}, so it cannot be '
            "stored in the {type} `{name}`.",
        ],
    },
    "type_mismatch:char": {
        "compile": [
            "`{wrote}` on line {fix_line} is a String because of the double quotes, but it is used as a single char; a "
            "char literal takes single quotes: `{meant}`.",
            "Line {fix_line} mixes a char with the String `{wrote}`: one character in double quotes is still a String, "
            "so javac refuses; write `{meant}`.",
        ],
    },
    "lossy_conversion:cast": {
        "compile:compiler.err.prob.found.req": [
            "Without the `({cast})` cast, line {fix_line} stores a {lossy_from} value in a {lossy_to}, which can lose "
            "information, so Java refuses to do it silently.",
            "Line {fix_line} puts a {lossy_from} into a {lossy_to} without saying `({cast})`; Java only narrows a "
            "value when a cast asks for it.",
        ],
    },
    "lossy_conversion:declared": {
        "compile:compiler.err.prob.found.req": [
            "`{name}` is declared `int` on line {fix_line}, but its value is a {type}; putting a {type} into an int "
            "can lose information, so javac refuses without a cast.",
            "Line {fix_line} declares `{name}` as `int` although it is given a {type} value: it should be declared "
            "`{type}`.",
        ],
    },
    "missing_return": {
        "compile:compiler.err.missing.ret.stmt": [
            "`{method}` must return a {type}, but its final `{statement}` is missing before line {fix_line}, so it can "
            "reach its end without returning anything.",
            "The last statement of `{method}`, `{statement}`, is missing before line {fix_line}: a method declared to "
            "return {type} must return a value on every path.",
            Short(
                "The final `return` of `{method}` is missing before line {fix_line}, so the method can end without "
                "returning the {type} it promises."
            ),
        ],
    },
    "missing_return_value": {
        "compile:compiler.err.prob.found.req": [
            "`return;` on line {fix_line} gives back nothing, but `{method}` is declared to return a {type}; it should "
            "return `{value}`.",
            "`{method}` promises a {type}, so the bare `return;` on line {fix_line} is not allowed: it must say what "
            "to return (`{value}`).",
            Short(
                "`return;` on line {fix_line} gives back nothing, but `{method}` is declared to return a {type}, so "
                "the return needs a value."
            ),
        ],
    },
    "uninitialized_variable": {
        "compile:compiler.err.var.might.not.have.been.initialized": [
            "`{name}` is declared on line {fix_line} without a value (it needs `= {value}`), and line {line} reads it "
            "while it may still have none; Java does not let you read a local variable that may be unset.",
            "Line {fix_line} declares `{name}` but gives it no starting value, so when line {line} uses it, it may "
            "still have none: local variables have no default value in Java.",
        ],
    },
    "unreachable_statement": {
        "compile:compiler.err.unreachable.stmt": [
            "Line {fix_line} (`{added}`) comes right after `{after}`, which always jumps away, so it can never run, "
            "and Java rejects code that can never run.",
            "`{added}` on line {fix_line} is unreachable: the `{exit}` just before it always leaves first, so the line "
            "should go.",
            Short(
                "Line {fix_line} comes right after a `{exit}`, which always leaves first, so it can never run; Java "
                "rejects code that can never run."
            ),
        ],
    },
    "wrong_arg_count": {
        "compile:compiler.err.cant.apply.symbol": [
            "`{method}` takes {needed_args}, but the call on line {fix_line} passes {given_args}: the last argument, "
            "`{dropped}`, is missing.",
            "The call of `{method}` on line {fix_line} leaves out its last argument `{dropped}`, so it does not match "
            "the {needed_args} `{method}` is declared with.",
            Short(
                "The call of `{method}` on line {fix_line} passes {given_args} where `{method}` takes {needed_args}: "
                "its last argument is missing."
            ),
        ],
    },
    "static_context:method": {
        "compile:compiler.err.non-static.cant.be.ref": [
            "`{method}` lost its `static` on line {fix_line}, so it now belongs to an object, and the static code at "
            "line {line} calls it without one.",
            "Without `static`, `{method}` (line {fix_line}) can only be called on an object, but a static method calls "
            "it directly at line {line}.",
        ],
    },
    "static_context:this": {
        "compile:compiler.err.non-static.cant.be.ref": [
            "`this.{name}` on line {fix_line} refers to the current object, but `{method}` is static and has no "
            "current object; `{name}` is a local variable and needs no `this.`.",
            "Line {fix_line} writes `this.{name}` inside the static method `{method}`, where there is no `this`; the "
            "local variable is just `{name}`.",
        ],
    },
    "missing_import": {
        "compile:compiler.err.cant.resolve.location": [
            "The line `import {imported};` is missing before line {fix_line}, so javac does not know `{symbol}`, used "
            "on line {line}, which comes from `{package}`.",
            "`{symbol}` on line {line} belongs to `{package}`, and without `import {imported};` (missing before line "
            "{fix_line}) javac cannot find it.",
        ],
    },
    "duplicate_variable": {
        "compile:compiler.err.already.defined": [
            "Line {fix_line} declares `{name}` again with `{type} {name}`, but `{name}` already exists (line "
            "{first_line}); to change its value, assign it without the type.",
            "`{type} {name}` on line {fix_line} makes a second variable called `{name}` in the same method, which Java "
            "forbids; drop the `{type}` to assign the existing one.",
        ],
    },
    "duplicate_variable:for_header": {
        "compile": [
            "`{type} {name}` in the for header on line {fix_line} declares `{name}` again where only an expression may "
            "stand; `{name}` already exists, so it must be assigned without the type.",
            "Line {fix_line} puts a declaration, `{type} {name}`, in the for header's update, where Java only accepts "
            "an expression such as an assignment to the existing `{name}`.",
        ],
    },
    "misspelled_type": {
        "compile:compiler.err.cant.resolve.location": [
            "`{wrote}` on line {fix_line} is not a Java type; the type is spelled `{meant}`, and Java names are "
            "case-sensitive.",
            "Java has no type called `{wrote}` (line {fix_line}): it must be written `{meant}`.",
        ],
    },
    "undeclared_variable": {
        "compile:compiler.err.cant.resolve.location": [
            "Line {fix_line} assigns `{name}` without declaring it: the `{type}` in front is missing, so javac knows "
            "no variable called `{name}`.",
            "`{name}` is never declared: line {fix_line} should introduce it as `{type} {name}`, otherwise Java does "
            "not know the name.",
        ],
    },
    # ------------------------------------------------------------------ runtime
    "off_by_one_bound:size": {
        _INDEX: [
            "`{left} <= {right}` on line {fix_line} lets `{left}` reach `{right}`, one past the last index of "
            "`{container}`, so on that last pass line {line} uses an index that does not exist{paren_detail}.",
            "The {keyword} condition on line {fix_line} uses `<=`, so `{left}` runs up to `{right}` itself, but the "
            "last valid index is one less; line {line} then goes out of bounds{paren_detail}.",
            Short(
                "The {keyword} condition on line {fix_line} uses `<=` where `<` is needed, so the loop runs one pass "
                "too many, and on that pass line {line} uses an index past the end{paren_detail}."
            ),
        ],
        "any": [
            "`{left} <= {right}` on line {fix_line} lets `{left}` reach `{right}`, one past the last index of "
            "`{container}`, {effect}.",
            Short(
                "The {keyword} condition on line {fix_line} uses `<=` where `<` is needed, so the loop runs one pass "
                "too many, {effect}."
            ),
        ],
    },
    "off_by_one_bound:offset": {
        "any": [
            "`<=` in `{left} <= {right}` on line {fix_line} lets `{left}` go one step further than `<` would, "
            "{effect}.",
            Short(
                "The {keyword} condition on line {fix_line} uses `<=` where `<` is needed, so the loop runs one pass "
                "too many, {effect}."
            ),
        ],
    },
    "index_plus_one": {
        _INDEX: [
            "`{wrote}` on line {fix_line} reads the element after the one meant: when `{name}` is the last index, "
            "`{name} + 1` is past the end of `{container}`{paren_detail}.",
            "Line {fix_line} uses `{name} + 1` as the index instead of `{name}`, so on the last pass it points one "
            "past the end of `{container}`{paren_detail}.",
        ],
        _WRONG: [
            "`{wrote}` on line {fix_line} reads the element after the one meant (index `{name} + 1` instead of "
            "`{name}`), so {result}.",
        ],
        "any": ["`{wrote}` on line {fix_line} uses the index `{name} + 1` where `{name}` is meant, {effect}."],
    },
    "division_by_zero:division": {
        "exception:java.lang.ArithmeticException": [
            "Line {fix_line} divides by `0` where the divisor should be `{divisor}`; an integer division by zero has "
            "no answer, so Java throws an ArithmeticException{by_zero}.",
            "`{op} 0` on line {fix_line} divides by zero: the divisor must be `{divisor}`, and dividing an int by zero "
            "is an error in Java{by_zero}.",
        ],
        "any": ["Line {fix_line} divides by `0` instead of `{divisor}`, {effect}."],
    },
    "division_by_zero:remainder": {
        "exception:java.lang.ArithmeticException": [
            "`{op} 0` on line {fix_line} takes the remainder of a division by zero (the divisor should be "
            "`{divisor}`), which Java cannot compute for integers{by_zero}.",
            "Line {fix_line} computes `{op} 0` where it means `{op} {divisor}`; an int remainder by zero throws an "
            "ArithmeticException{by_zero}.",
        ],
        "any": ["Line {fix_line} takes `{op} 0` instead of `{op} {divisor}`, {effect}."],
    },
    "null_dereference": {
        "exception:java.lang.NullPointerException": [
            "`{name}` is set to `null` on line {fix_line} instead of `{value}`, so there is no object behind it, and "
            "the program fails with a NullPointerException at line {line}.",
            "Line {fix_line} starts `{name}` as `null` rather than `{value}`; a null reference has no object to call "
            "methods on or store into, which is what fails at line {line}.",
            Short(
                "`{name}` is set to `null` on line {fix_line} instead of to an object, so there is nothing behind "
                "it, and the program fails with a NullPointerException at line {line}."
            ),
        ],
        "any": [
            "`{name}` starts as `null` on line {fix_line} instead of `{value}`, {effect}.",
            Short("`{name}` starts as `null` on line {fix_line} instead of an object, {effect}."),
        ],
    },
    "bad_cast:sort": {
        "exception:java.lang.ClassCastException": [
            "`Arrays.sort({array})` on line {fix_line} has no comparator, so it must compare the `{type}` objects by "
            "themselves, but `{type}` does not implement Comparable.",
        ],
    },
    "bad_cast:tree": {
        "exception:java.lang.ClassCastException": [
            "A {wrote} keeps its keys sorted, so it must compare `{type}` objects, but `{type}` does not implement "
            "Comparable; line {fix_line} should create a {meant}.",
        ],
    },
    "bad_cast:cast": {
        "exception:java.lang.ClassCastException": [
            "Line {fix_line} casts to `{wrote}` instead of `{meant}`, but the object is not a `{wrote}`: the two are "
            "different classes, so the cast fails when the program runs.",
        ],
    },
    "parse_non_number:end": {
        "exception:java.lang.NumberFormatException": [
            "The substring on line {fix_line} ends at `{wrote}` instead of `{meant}`, one character too far, so a "
            "character that is not a digit ends up in the text given to `{parser}`{paren_detail}.",
        ],
    },
    "parse_non_number:start": {
        "exception:java.lang.NumberFormatException": [
            "The substring on line {fix_line} starts at `{wrote}` instead of `{meant}`, one character too early, so "
            "`{parser}` gets text that begins with a character that is not part of the number{paren_detail}.",
        ],
    },
    "parse_non_number:trim": {
        "exception:java.lang.NumberFormatException": [
            "Line {fix_line} passes `{text}` to `{parser}` without `.trim()`, so the spaces around the number stay in "
            "the text, and text with spaces is not a valid number{paren_detail}.",
        ],
    },
    "removed_base_case:block": {
        "exception:java.lang.StackOverflowError": [
            "The base case `{condition}` no longer returns: `{statement}` is missing before line {fix_line}, so "
            "`{method}` keeps calling itself until the stack overflows.",
            "`{statement}` is missing before line {fix_line}, so when `{condition}` holds `{method}` does not stop but "
            "calls itself again and again until the stack runs out.",
            Short(
                "`{method}` has lost the `return` of its base case (before line {fix_line}), so it keeps calling "
                "itself until the stack overflows."
            ),
        ],
        "exception": [
            "The base case `{condition}` no longer returns (`{statement}` is missing before line {fix_line}), so "
            "`{method}` carries on past the point where it should stop and fails at line {line} with "
            "{exception}{paren_detail}.",
            Short(
                "`{method}` has lost the `return` of its base case (before line {fix_line}), so it carries on past "
                "the point where it should stop and fails at line {line} with {exception}{paren_detail}."
            ),
        ],
        _WRONG: [
            "The base case `{condition}` no longer returns (`{statement}` is missing before line {fix_line}), so "
            "`{method}` goes on past the point where it should stop, and {result}.",
        ],
        "any": ["`{method}` has lost its base case: `{statement}` is missing before line {fix_line}, {effect}."],
    },
    "removed_base_case:inline": {
        "exception:java.lang.StackOverflowError": [
            "The base case `{statement}` is missing before line {fix_line}, so `{method}` never stops calling itself "
            "and the stack overflows.",
            Short(
                "`{method}` has lost the `return` of its base case (before line {fix_line}), so it never stops "
                "calling itself and the stack overflows."
            ),
        ],
        "exception": [
            "The base case `{statement}` is missing before line {fix_line}, so `{method}` carries on past the point "
            "where it should stop and fails at line {line} with {exception}{paren_detail}.",
        ],
        "any": ["`{method}` has lost its base case `{statement}` before line {fix_line}, {effect}."],
    },
    "missing_increment": {
        "timeout": [
            "`{statement}` is missing before line {fix_line}, so `{name}` is no longer updated there, the condition of "
            "`{loop}` stays true and {call} never finishes.",
            "The loop `{loop}` lost `{statement}` (before line {fix_line}), the update of `{name}` that its condition "
            "waits for, so it runs forever on {call}.",
            Short(
                "`{statement}` is missing before line {fix_line}: it was the update of `{name}` that the loop's "
                "condition waits for, so the loop runs forever on {call}."
            ),
        ],
        "any": [
            "`{statement}` is missing from the loop `{loop}` before line {fix_line}, {effect}.",
            Short("`{statement}` is missing from the loop before line {fix_line}, {effect}."),
        ],
    },
    "wrong_step_direction": {
        _INDEX: [
            "The for loop on line {fix_line} updates with `{wrote}` instead of `{meant}`, so `{name}` counts "
            "{direction} instead of {opposite}, away from the loop's end; it soon leaves the valid indexes and line "
            "{line} fails{paren_detail}.",
        ],
        "timeout": [
            "`{wrote}` on line {fix_line} makes `{name}` count {direction} instead of {opposite}, away from the loop's "
            "end, so the condition never becomes false and {call} never finishes.",
        ],
        "any": ["`{wrote}` on line {fix_line} makes `{name}` count {direction} instead of {opposite}, {effect}."],
    },
    "array_too_small": {
        "exception:java.lang.ArrayIndexOutOfBoundsException": [
            "The array created on line {fix_line} gets the size `{wrote}` instead of `{meant}`, one too small, so the "
            "program runs past its end at line {line}{paren_detail}.",
            "`{wrote}` on line {fix_line} makes the array one element short (it needs `{meant}`), so there is no room "
            "for the last element and line {line} goes out of bounds{paren_detail}.",
        ],
        "exception:java.lang.NegativeArraySizeException": [
            "The array on line {fix_line} is created with size `{wrote}` instead of `{meant}`, and for this input "
            "`{wrote}` is negative{paren_detail}; an array cannot have a negative size.",
        ],
        "any": ["The array on line {fix_line} is created with size `{wrote}` instead of `{meant}`, {effect}."],
    },
    "immutable_collection": {
        "exception:java.lang.UnsupportedOperationException": [
            "`{name}` starts on line {fix_line} as `{wrote}`, an empty {kind} that can never be changed, so modifying "
            "it at line {line} throws UnsupportedOperationException; it needs `{meant}`.",
            "`{wrote}` on line {fix_line} gives `{name}` a fixed, empty {kind}; adding to it at line {line} is "
            "refused, whereas `{meant}` can grow.",
        ],
    },
    # ------------------------------------------------------------------ logic
    "relational_swap:includes": {
        _WRONG: [
            "`{left} {wrote} {right}` on line {fix_line} is also true when `{left}` equals `{right}`, a case `{meant}` "
            "leaves out, so {result}.",
            "Line {fix_line} uses `{wrote}` where `{meant}` is needed: `{left} {wrote} {right}` now also counts the "
            "case `{left} == {right}`, so {result}.",
            "Line {fix_line} uses `{wrote}` where `{meant}` is needed, which also lets equal values through, so "
            "{result}.",
        ],
        "any": [
            "Line {fix_line} compares with `{wrote}` where `{meant}` is meant, which also admits equal values, "
            "{effect}.",
            "`{left} {wrote} {right}` on line {fix_line} should be `{left} {meant} {right}`: it also lets equal "
            "values through, {effect}.",
        ],
    },
    "relational_swap:excludes": {
        _WRONG: [
            "`{left} {wrote} {right}` on line {fix_line} is false when `{left}` equals `{right}`, a case `{meant}` "
            "includes, so {result}.",
            "Line {fix_line} uses `{wrote}` where `{meant}` is needed, so the case `{left} == {right}` is left out and "
            "{result}.",
            "Line {fix_line} uses `{wrote}` where `{meant}` is needed, which leaves out equal values, so {result}.",
        ],
        "any": [
            "Line {fix_line} compares with `{wrote}` where `{meant}` is meant, which leaves out equal values, "
            "{effect}.",
            "`{left} {wrote} {right}` on line {fix_line} should be `{left} {meant} {right}`: it leaves out equal "
            "values, {effect}.",
        ],
    },
    "relational_swap:opposite": {
        _WRONG: [
            "`{left} {wrote} {right}` on line {fix_line} tests the opposite of what is meant (`{left} {meant} "
            "{right}`), so {result}.",
            "Line {fix_line} uses `{wrote}` instead of `{meant}`, so the comparison is true exactly when it should be "
            "false, and {result}.",
        ],
        "any": [
            "Line {fix_line} tests `{wrote}` where `{meant}` is meant, the opposite comparison, {effect}.",
            "`{left} {wrote} {right}` on line {fix_line} tests the opposite of `{left} {meant} {right}`, {effect}.",
        ],
    },
    "arithmetic_swap:binary": {
        _WRONG: [
            "`{left} {new_op} {right}` on line {fix_line} {does} where it should {should}: the operator must be "
            "`{op}`, so {result}.",
            "Line {fix_line} {does} with `{new_op}` where it should {should} with `{op}` (`{left} {op} {right}`), so "
            "{result}.",
            "Line {fix_line} {does} with `{new_op}` where it should {should} with `{op}`, so {result}.",
        ],
        "any": [
            "Line {fix_line} {does} with `{new_op}` where it should {should} with `{op}`, {effect}.",
            "`{left} {new_op} {right}` on line {fix_line} {does} where it should {should} (`{op}`), {effect}.",
        ],
    },
    "arithmetic_swap:compound": {
        _WRONG: [
            "`{left} {wrote} {right}` on line {fix_line} {does} where it should {should} (`{left} {meant} {right}`), "
            "so {result}.",
            "Line {fix_line} updates `{left}` with `{wrote}` instead of `{meant}`: it {does} where it should {should}, "
            "so {result}.",
        ],
        "any": [
            "Line {fix_line} updates with `{wrote}` instead of `{meant}` (it {does} where it should {should}), "
            "{effect}."
        ],
    },
    "loop_start_off_by_one": {
        _WRONG: [
            "The loop on line {fix_line} starts `{name}` at 1 instead of 0, so the pass with `{name}` = 0 never "
            "happens and {result}.",
            "`{name} = 1` on line {fix_line} skips the first pass of the loop (`{name}` = 0), so {result}.",
        ],
        "any": ["The loop on line {fix_line} starts `{name}` at 1 instead of 0, {effect}."],
    },
    "loop_bound_minus_one:unit": {
        _WRONG: [
            "`{name} {op} {wrote}` on line {fix_line} stops the loop one pass early: the last pass, with `{name}` = "
            "`{last}`, never runs, so {result}.",
            "The loop bound on line {fix_line} should be `{meant}`, not `{wrote}`: the pass with `{name}` = `{last}` "
            "is skipped, so {result}.",
        ],
        "any": ["`{name} {op} {wrote}` on line {fix_line} skips the loop's last pass (`{name}` = `{last}`), {effect}."],
    },
    "loop_bound_minus_one:step": {
        "any": ["`{name} {op} {wrote}` on line {fix_line} ends the loop sooner than `{name} {op} {meant}`, {effect}."],
    },
    "wrong_initial_value:sum": {
        _WRONG: [
            "`{name}` starts at {wrote} instead of {meant} on line {fix_line}, and after that it is only added to or "
            "subtracted from, so it ends {by} and {result}.",
            "`{name}` should start at {meant}, not {wrote} (line {fix_line}): every later change only adds to it, so "
            "it finishes {by}, and {result}.",
        ],
        "any": ["`{name}` starts at {wrote} instead of {meant} on line {fix_line}, {effect}."],
    },
    "wrong_initial_value:product": {
        _WRONG: [
            "`{name}` is a product but starts at {wrote} instead of {meant} on line {fix_line}; anything multiplied "
            "into 0 stays 0, so {result}.",
        ],
        "any": ["`{name}` starts at {wrote} instead of {meant} on line {fix_line}, {effect}."],
    },
    "wrong_initial_value:flag": {
        _WRONG: [
            "`{name}` should start as `{meant}`, not `{wrote}` (line {fix_line}); unless something sets it later, it "
            "keeps the wrong value, so {result}.",
            "Line {fix_line} starts the flag `{name}` as `{wrote}` instead of `{meant}`, so every case that never "
            "changes it gets the opposite answer, and {result}.",
        ],
        "any": ["`{name}` starts as `{wrote}` instead of `{meant}` on line {fix_line}, {effect}."],
    },
    "wrong_initial_value:extreme": {
        _WRONG: [
            "`{name}` starts at 0 instead of `{meant}` on line {fix_line}, so the search starts from 0, which need not "
            "be one of the values at all, and {result}.",
            "Line {fix_line} starts `{name}` at 0 rather than `{meant}`, so 0 competes with the real values even "
            "though it may not be one of them; {result}.",
        ],
        "any": ["`{name}` starts at 0 instead of `{meant}` on line {fix_line}, {effect}."],
    },
    "wrong_initial_value:other": {
        "any": ["`{name}` starts at `{wrote}` instead of `{meant}` on line {fix_line}, {effect}."],
    },
    "negated_condition:dropped": {
        _WRONG: [
            "Line {fix_line} lost the `!` before `{operand}`, so the {keyword} condition uses `{operand}` where its "
            "opposite is meant, and {result}.",
            "Line {fix_line} uses `{operand}` where `!{operand}` is meant (the `!` is missing), so {result}.",
            Short("Line {fix_line} lost a `!`, so a test that should be negated is not, and {result}."),
        ],
        "any": [
            "Line {fix_line} uses `{operand}` where `!{operand}` is meant, {effect}.",
            Short("Line {fix_line} lost a `!`, so a test that should be negated is not, {effect}."),
        ],
    },
    "negated_condition:added": {
        _WRONG: [
            "The condition on line {fix_line} should be `{condition}`, not `{wrote}`: the `!` makes the if run in "
            "exactly the cases it should skip, so {result}.",
            "`if ({wrote})` on line {fix_line} negates the condition, so the if branch runs exactly when it should "
            "not, and {result}.",
            Short(
                "The `!` on line {fix_line} reverses the whole if condition, so the branch runs in exactly the wrong "
                "cases and {result}."
            ),
        ],
        "any": [
            "The `!` on line {fix_line} reverses the if condition `{condition}`, {effect}.",
            Short("The `!` on line {fix_line} reverses the whole if condition, {effect}."),
        ],
    },
    "swapped_arguments": {
        _WRONG: [
            "`{method}` on line {fix_line} gets its arguments `{first}` and `{second}` the wrong way round, so "
            "{result}.",
            "The call of `{method}` on line {fix_line} passes `{second}` first and `{first}` second; `{first}` must "
            "come first, so {result}.",
            Short(
                "The call of `{method}` on line {fix_line} passes its two arguments in the wrong order, so {result}."
            ),
        ],
        "any": [
            "`{method}` on line {fix_line} gets `{first}` and `{second}` in the wrong order, {effect}.",
            Short("The call of `{method}` on line {fix_line} passes two arguments in the wrong order, {effect}."),
        ],
    },
    "wrong_return_variable": {
        _WRONG: [
            "`return {wrote};` on line {fix_line} gives back `{wrote}`, but `{method}` must return `{meant}`, so "
            "{result}.",
            "Line {fix_line} returns the wrong variable: `{wrote}` instead of `{meant}`, so {result}.",
        ],
        "any": ["Line {fix_line} returns `{wrote}` instead of `{meant}`, {effect}."],
    },
    "string_identity_compare": {
        _WRONG: [
            "`{wrote}` on line {fix_line} checks whether both sides are the same object, not whether their contents "
            "are equal, so {result}; compare with `{meant}`.",
            "`==` and `!=` on objects compare identity, so `{wrote}` on line {fix_line} treats two equal {type} values "
            "made separately as different (`.equals` compares contents), and {result}.",
            Short(
                "`{op}` on line {fix_line} compares whether two references are the same object, not whether their "
                "contents are equal, which takes `.equals`, so {result}."
            ),
        ],
        "any": ["`{wrote}` on line {fix_line} compares object identity where `{meant}` compares contents, {effect}."],
    },
    "integer_division:cast": {
        _WRONG: [
            "`{division}` on line {fix_line} divides two ints, so the fraction is dropped before the result becomes a "
            "double, and {result}.",
            "Without `(double)`, `{division}` on line {fix_line} is an integer division that throws away everything "
            "after the decimal point, so {result}.",
            Short(
                "Without `(double)`, the division on line {fix_line} divides two ints and drops the fraction, so "
                "{result}."
            ),
        ],
        "any": ["Without `(double)`, `{division}` on line {fix_line} is an integer division, {effect}."],
    },
    "integer_division:literal": {
        _WRONG: [
            "Line {fix_line} uses the int `{digits}` where `{digits}.0` is needed, so `{division}` divides two ints "
            "and the fraction is lost; {result}.",
            "`{division}` on line {fix_line} is an integer division because `{digits}` has no `.0`, so the part after "
            "the decimal point is dropped and {result}.",
            Short(
                "Line {fix_line} writes `{digits}` where `{digits}.0` is needed, so the division there is between "
                "two ints and drops the fraction; {result}."
            ),
        ],
        "any": ["`{division}` on line {fix_line} is an integer division (`{digits}` lacks its `.0`), {effect}."],
    },
    "and_or_swap:or": {
        _WRONG: [
            "`{left} || {right}` on line {fix_line} is true when either side holds, but both must hold (`&&`), so "
            "{result}.",
            "Line {fix_line} joins the two tests with `||` where `&&` is needed: one true side is now enough, so "
            "{result}.",
        ],
        "any": [
            "Line {fix_line} joins the tests with `||` where `&&` (both) is needed, {effect}.",
            "`{left} || {right}` on line {fix_line} needs only one side to hold where `&&` needs both, {effect}.",
        ],
    },
    "and_or_swap:and": {
        _WRONG: [
            "`{left} && {right}` on line {fix_line} needs both sides to hold, but one is enough (`||`), so {result}.",
            "Line {fix_line} joins the two tests with `&&` where `||` is needed: both must now be true, so {result}.",
        ],
        "any": [
            "Line {fix_line} joins the tests with `&&` where `||` (either) is needed, {effect}.",
            "`{left} && {right}` on line {fix_line} needs both sides to hold where `||` needs only one, {effect}.",
        ],
    },
    "removed_break:loop": {
        _WRONG: [
            "`{statement}` is missing before line {fix_line}, so the loop goes on after it should have stopped, and "
            "{result}.",
        ],
        "any": ["`{statement}` is missing before line {fix_line}, so the loop does not stop there; {effect}."],
    },
    "removed_break:switch": {
        _WRONG: [
            "Without `{statement}` before line {fix_line}, the switch case falls through into the next one, so "
            "{result}.",
        ],
        "any": ["`{statement}` is missing before line {fix_line}, so the case falls through; {effect}."],
    },
    "accumulate_overwrite": {
        _WRONG: [
            "`{name} = {value}` on line {fix_line} replaces the old value of `{name}` instead of {instead} (`{name} "
            "{op}= {value}`), so what it held before is lost and {result}.",
            "Line {fix_line} writes `{name} =` where `{name} {op}=` is meant, so `{name}` forgets its earlier value, "
            "and {result}.",
        ],
        "any": ["`{name} = {value}` on line {fix_line} replaces `{name}` instead of {instead}, {effect}."],
    },
    "char_digit_value": {
        _WRONG: [
            "Without `- '0'`, `{char}` on line {fix_line} is used as its character code ('0' is 48, '1' is 49, ...) "
            "rather than the digit's value, so {result}.",
            "Line {fix_line} uses the char `{char}` as a number, which gives its character code, not the digit; it "
            "needs `- '0'`, so {result}.",
            Short(
                "Line {fix_line} uses a digit character as a number without `- '0'`, so its character code ('0' is "
                "48) is used instead of the digit, and {result}."
            ),
        ],
        "any": ["Line {fix_line} uses the character code of `{char}` instead of its digit value, {effect}."],
    },
    "min_max_swap:max": {
        _WRONG: [
            "`Math.min` on line {fix_line} keeps the smaller value, but the larger one is needed (`Math.max`), so "
            "{result}."
        ],
        "any": ["Line {fix_line} uses `Math.min` where `Math.max` is meant, {effect}."],
    },
    "min_max_swap:min": {
        _WRONG: [
            "`Math.max` on line {fix_line} keeps the larger value, but the smaller one is needed (`Math.min`), so "
            "{result}."
        ],
        "any": ["Line {fix_line} uses `Math.max` where `Math.min` is meant, {effect}."],
    },
    "min_max_swap:floor": {
        _WRONG: [
            "`Math.ceil` on line {fix_line} rounds up, but the value must be rounded down with `Math.floor`, so "
            "{result}."
        ],
        "any": ["Line {fix_line} rounds up with `Math.ceil` where `Math.floor` is meant, {effect}."],
    },
    "min_max_swap:ceil": {
        _WRONG: [
            "`Math.floor` on line {fix_line} rounds down, but the value must be rounded up with `Math.ceil`, so "
            "{result}."
        ],
        "any": ["Line {fix_line} rounds down with `Math.floor` where `Math.ceil` is meant, {effect}."],
    },
    "ignored_string_result": {
        _WRONG: [
            "`{name}.{method}(...)` on line {fix_line} builds a new String and throws it away: a String never changes, "
            "so `{name}` keeps its old text and {result}.",
            "Line {fix_line} calls `{method}` on `{name}` but drops the result; it must be stored with `{name} = "
            "{name}.{method}(...)`, so {result}.",
        ],
        "any": ["Line {fix_line} throws away the String that `{name}.{method}(...)` returns, {effect}."],
    },
}

# What a javac key or an exception means, as a clause true whenever it is reported (for the fallback).
COMPILE_MEANING: dict[str, list[str]] = {
    "compiler.err.expected": ["javac cannot parse line {line}: {detail} is expected there"],
    "compiler.err.cant.resolve.location": ["javac finds nothing called `{reported_name}` where line {line} uses it"],
    "compiler.err.cant.resolve.location.args": ["javac finds no method `{reported_name}` for the call on line {line}"],
    "compiler.err.cant.apply.symbol": ["the call of `{reported_name}` on line {line} does not match its parameters"],
    "compiler.err.prob.found.req": ["the types on line {line} do not fit ({message})"],
    "compiler.err.missing.ret.stmt": ["the method can reach its end at line {line} without returning a value"],
    "compiler.err.var.might.not.have.been.initialized": [
        "`{reported_name}` may be read on line {line} before it has a value"
    ],
    "compiler.err.unreachable.stmt": ["the statement on line {line} can never run"],
    "compiler.err.non-static.cant.be.ref": [
        "line {line} uses `{reported_name}`, which belongs to an object, from static code"
    ],
    "compiler.err.else.without.if": ["the `else` on line {line} has no if before it"],
    "compiler.err.unclosed.str.lit": ["the string on line {line} never ends"],
    "compiler.err.premature.eof": ["javac reaches the end of the file at line {line} with a block still open"],
    "compiler.err.already.defined": ["line {line} declares a name that already exists there"],
    "*": ["javac rejects line {line}: {message}"],
}
RUNTIME_MEANING: dict[str, list[str]] = {
    "java.lang.ArrayIndexOutOfBoundsException": ["line {line} uses an index outside the array{paren_detail}"],
    "java.lang.StringIndexOutOfBoundsException": ["line {line} asks for a position outside the string{paren_detail}"],
    "java.lang.IndexOutOfBoundsException": ["line {line} uses a list position that does not exist{paren_detail}"],
    "java.lang.ArithmeticException": [
        "line {line} divides by zero{by_zero}",
        "line {line} throws ArithmeticException{paren_detail}",
    ],
    "java.lang.NullPointerException": ["line {line} uses a reference that is null"],
    "java.lang.StackOverflowError": ["the recursion through line {line} goes so deep that the stack overflows"],
    "java.lang.ClassCastException": ["line {line} casts an object to a class it does not belong to"],
    "java.lang.NumberFormatException": ["line {line} reads a number from text that is not one{paren_detail}"],
    "java.lang.NegativeArraySizeException": ["line {line} creates an array with a negative size{paren_detail}"],
    "java.lang.UnsupportedOperationException": ["line {line} tries to change a collection that cannot change"],
    "*": ["line {line} throws {exception}{paren_detail}"],
}
# The fallback: what was observed ({meaning}) and the change made ({change}).
FALLBACK: dict[str, list[str]] = {
    "compile": [
        "{change}, so {meaning}.",
        "Because {change}, {meaning}.",
    ],
    "exception": [
        "For {call}, {meaning}, because {change}.",
        "{change}, so for {call} {meaning}.",
    ],
    "timeout": [
        "{change}, so {call} never finishes (stopped after {seconds:g} s).",
        "{call} runs until it is stopped after {seconds:g} s because {change}.",
    ],
    "wrong_output": [
        "{change}, so {call} gives {actual} instead of {expected}.",
        "{call} gives {actual} instead of {expected} because {change}.",
    ],
}
