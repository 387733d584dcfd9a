"""A paragraph of text in, sentence spans (start, end) or sentence strings out, by language."""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

# What an abbreviation says about the word after it.
_TITLE = 0  # a name follows: never a sentence end ("Mr. Smith", "Srta. Ledesma")
_BEFORE_NUMBER = 1  # a number often follows ("No. 5", "p. 55", "Sept. 11"); else like _MAYBE_END
_MAYBE_END = 2  # ends a sentence only before a typical sentence opener ("Co. It", "U.S. How")


@dataclass(frozen=True)
class _Rules:
    abbreviations: dict[str, int]  # lower-cased, without the final period
    starters: frozenset[str]  # lower-cased words that typically open a sentence
    reporting_verbs: frozenset[str]  # '"Why?" Austin asked.' is one sentence
    ordinals: bool  # "12. Juni": a small number with a period is an ordinal, not an end
    cjk: bool = False  # "。！？" end a sentence with no space after them


def _rules(
    titles: str,
    before_number: str,
    maybe_end: str,
    starters: str,
    reporting_verbs: str = "",
    ordinals: bool = False,
    cjk: bool = False,
) -> _Rules:
    abbreviations = dict.fromkeys(maybe_end.split(), _MAYBE_END)
    abbreviations.update(dict.fromkeys(before_number.split(), _BEFORE_NUMBER))
    abbreviations.update(dict.fromkeys(titles.split(), _TITLE))
    return _Rules(
        abbreviations,
        frozenset(starters.split()),
        frozenset(reporting_verbs.split()),
        ordinals,
        cjk,
    )


_RULES: dict[str, _Rules] = {
    "en": _rules(
        titles="mr mrs ms messrs mmes dr prof rev hon gov sen rep gen lt col maj capt cmdr adm "
        "sgt cpl pvt supt insp det pres amb atty vs",
        before_number="no nos nr p pp vol vols fig figs art ch chap sec para pt ca approx n° nº "
        "tel ext jan feb mar apr jun jul aug sep sept oct nov dec",
        maybe_end="co corp inc ltd llc plc bros jr sr esq etc al dept univ assn govt st mt ft ave "
        "blvd rd calif fla ariz mich minn tenn okla colo conn",
        starters="a an the this that these those he she it they we i you his her its their our "
        "my there here but and or so yet nor if when while as after before since because although "
        "though in on at for from with by to of about under over during despite according among "
        "how what why who where which did does do is are was were will would can could should may "
        "might must has have had no not some many most all both each every one two three however "
        "meanwhile then now also still later earlier last next other another such",
        reporting_verbs="said says asked asks told tells added adds wrote writes replied replies "
        "shouted cried insisted",
    ),
    "de": _rules(
        titles="hr hrn fr frl dr prof st vgl ggf bspw sog inkl zzgl evtl",
        before_number="nr abs art bd ca",
        maybe_end="usw etc bzw str mio mrd tel",
        starters="der die das den dem des ein eine einer er sie es wir ich ihr man in im am an auf "
        "aus bei mit nach seit von vor zu zum zur für über unter aber und oder doch dann so auch "
        "als wenn da dies diese dieser dieses nun zudem jedoch laut wie was wer warum wo damit "
        "kein keine nicht noch schon",
        ordinals=True,
    ),
    "fr": _rules(
        titles="m mm mme mmes mlle mlles dr pr me mgr st ste",
        before_number="n no nº n° p pp art ch chap vol env",
        maybe_end="etc cf av bd",
        starters="le la les l un une des du de ce cet cette ces il elle ils elles on nous vous je "
        "mais et ou en dans pour par sur selon depuis après avant lors si c d quand comme plus "
        "aussi puis alors",
    ),
    "es": _rules(
        titles="sr sra srta sres sras d dña dr dra lic ing arq prof gral excmo ilmo sto sta",
        before_number="n no nº núm pág págs art cap vol tel",
        maybe_end="etc ej av avda",
        starters="el la los las lo un una unos unas en de por para pero y o se es su sus este "
        "esta estos estas ese esa no ya sin con según además también él ella ellos ellas yo "
        "nosotros hoy ayer al cuando como si",
    ),
    "it": _rules(
        titles="sig sigg dott dr prof ing avv arch geom rag on sen gen mons",
        before_number="n nr pag pagg art cap vol tel",
        maybe_end="ecc es ca",
        starters="il lo la i gli le l un una uno in di da per ma e è non questo questa quello "
        "quella lui lei loro noi io secondo anche dopo oggi ieri se quando come",
    ),
    "nl": _rules(
        titles="dhr mevr mw dr prof ir drs mr ing st",
        before_number="nr blz art ca vol ong",
        maybe_end="enz bijv etc resp",
        starters="de het een hij zij ze we wij ik in op maar en dat dit deze die er toen ook "
        "volgens na voor bij met van als of niet geen",
    ),
    # Chinese and Japanese: full-width stops, no spaces between sentences. (Arabic's "؟" and
    # Urdu's "۔" are stops in every language, like "?" and ".": English rules serve there.)
    "zh": _rules(titles="", before_number="", maybe_end="", starters="", cjk=True),
    "ja": _rules(titles="", before_number="", maybe_end="", starters="", cjk=True),
}
SUPPORTED_LANGUAGES: frozenset[str] = frozenset(_RULES)

# One pass of this pattern finds every place a sentence may end, so Python looks only at those;
# it starts with a character class, which lets the regex engine skip ahead in C. A candidate is
# a stop (".", "?!", "..", "...", ". . ." or "…"), then maybe closing quotes or brackets, then
# whitespace or the end; or a period gluing a lower-case word to a capitalised one ("left.Then")
# when no domain or e-mail address goes on after it. The lookbehind lets a run of stops be tried
# only from its first character, so a long run costs linear time.
_CANDIDATE = re.compile(
    r"(?P<stop>[.!?…؟۔](?<![.!?…؟۔].)(?:(?<=\.)(?: \.){2,}|[.!?…؟۔]*))"
    r"(?:(?P<close>(?:[\"'”’“‘»«›‹)\]}]|[ \xa0\u202f][»›](?!\S))*)(?:\s+|\Z)"
    r"|(?<=[a-z]{2}\.)(?=[A-Z][a-z]+[^\w\s]*(?!\S)))"
)
_LONGEST_WORD = 200  # how far back to look for the word before a stop
_DOTTED = re.compile(r"[^\W\d_]{1,2}(?:\.[^\W\d_]{1,2})+")  # "U.S", "a.m", "EE.UU"
_WORD = re.compile(r"\w+")
_LONG_WORD = re.compile(r"[^\W\d_]{4,}")
_SPEAKER = re.compile(r"(?:[A-Z][\w'’.-]*\s+){1,3}(\w+)")  # "Lloyd Austin said"
_BULLETS = "•⁃▪◦‣"
_OPENERS = "\"'“‘„‚«»‹›([{¿¡"
_EDGES = _OPENERS + "”’)]}" + _BULLETS
_ITEM_HEAD = re.compile(r"(\d{1,2}|[a-z])(\.\)|\)|\.)\s")
# A run of full-width stops and the closing quotes or brackets after it (Chinese, Japanese).
_CJK_STOP = re.compile(r"[。！？｡]+[」』）〕】》〉\"”’)\]]*")
_SPACE = re.compile(r"\s*")
# What follows the period of a name written with one ("Amazon.Com", "Yahoo.Inc"): a domain's
# or a company's ending, not a sentence glued to the last one ("left.Then").
_TOKEN_ENDINGS = frozenset(
    {"com", "net", "org", "edu", "gov", "mil", "int", "info", "biz", "io", "co", "uk", "de", "fr",
     "nl", "es", "eu", "ch", "at", "au", "ca", "cn", "jp", "ru", "tv", "fm", "ai", "app", "dev",
     "inc", "corp", "ltd", "llc", "plc", "gmbh", "ag", "sa"}
)  # fmt: skip


def _rules_for(language: str) -> _Rules:
    code = language.lower().replace("_", "-").split("-")[0]
    return _RULES.get(code, _RULES["en"])


def _list_item_starts(text: str, start: int, end: int) -> list[int]:
    """Where items after the first begin, when the paragraph opens an inline list ("1) a 2) b")."""
    if text[start] in _BULLETS:
        bullet = re.compile(rf"(?<=\s){re.escape(text[start])}")
        return [found.start() for found in bullet.finditer(text, start + 1, end)]
    head = _ITEM_HEAD.match(text, start, end)
    if head is None:
        return []
    label, suffix = head.groups()
    starts = []
    position = head.end()
    while True:
        label = str(int(label) + 1) if label.isdigit() else chr(ord(label) + 1)
        item = re.compile(rf"(?<!\S){re.escape(label + suffix)}(?=\s)").search(text, position, end)
        if item is None:
            return starts
        starts.append(item.start())
        position = item.end()


def _opens_item(text: str, token_start: int, sentence_start: int, item_starts: list[int]) -> bool:
    """Whether the token is the label of a list item: only bullets or nothing before it."""
    if item_starts:
        index = bisect_right(item_starts, token_start)
        if index:
            sentence_start = max(sentence_start, item_starts[index - 1])
    if token_start - sentence_start > 8:
        return False
    return not text[sentence_start:token_start].strip().strip(_BULLETS).strip()


def _word_before(text: str, start: int, stop_start: int) -> str:
    """The whitespace-delimited word that ends at `stop_start` (no further back than `start`)."""
    lowest = max(start, stop_start - _LONGEST_WORD)
    space = text.rfind(" ", lowest, stop_start)
    word = text[space + 1 if space >= 0 else lowest : stop_start]
    if not word.isprintable():  # a newline or a rarer space inside
        word = "" if word[-1].isspace() else word.rsplit(None, 1)[-1]
    return word


def _in_title_case(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] reads like a headline: every longer word capitalised."""
    words = _LONG_WORD.findall(text, start, end)
    return len(words) >= 2 and all(word[0].isupper() for word in words)


def split_spans(text: str, language: str = "en") -> list[tuple[int, int]]:
    """Sentence spans (start, end) into `text`, in order; text[start:end] has no leading/trailing
    whitespace; whitespace-only stretches produce no span."""
    end = len(text.rstrip())
    start = len(text) - len(text.lstrip())
    if start >= end:
        return []
    rules = _rules_for(language)
    abbreviations = rules.abbreviations
    item_starts = _list_item_starts(text, start, end)
    cuts: list[tuple[int, int]] = []  # (end of a sentence, start of the next)
    sentence_start = start
    for candidate in _CANDIDATE.finditer(text, start, end):
        after = candidate.end()
        if after >= end:
            break
        stop, close = candidate.groups()
        stop_start = candidate.start()
        if close is None:
            # A period between two words with no space: "left.Then", "Amazon.Com", a URL.
            word = _word_before(text, start, stop_start)
            glued = _WORD.match(text, after)[0].lower()
            if "/" in word or "@" in word:
                # Inside a URL or an address ("/News.Today"), unless what follows plainly
                # opens a sentence: "…/news.The report said" does not swallow the next one.
                if glued not in rules.starters:
                    continue
            elif word.strip(_EDGES).lower() in abbreviations or glued in _TOKEN_ENDINGS:
                continue
            cuts.append((after, after))
            sentence_start = after
            continue
        # The first letter of what follows decides most cases; look past opening quotes.
        following = after
        while following < end - 1 and text[following] in _OPENERS:
            following += 1
        first = text[following]
        if first.islower():
            continue
        word = _word_before(text, start, stop_start)
        if "!" in stop or "?" in stop or "؟" in stop:
            if first in "-–—":
                continue
            if close and rules.reporting_verbs:
                speaker = _SPEAKER.match(text, following, end)
                if (
                    speaker
                    and speaker[1] in rules.reporting_verbs
                    and _WORD.match(text, following)[0].lower() not in rules.starters
                ):
                    continue
        elif stop == ".":
            core = word.strip(_EDGES)
            kind = abbreviations.get(core.lower())
            if kind is None and len(core) <= 3:
                if (core.isdigit() and len(core) <= 2) or (len(core) == 1 and core.isalpha()):
                    if _opens_item(text, stop_start - len(word), sentence_start, item_starts):
                        continue
                    if core.isalpha():
                        kind = _MAYBE_END  # an initial ("Albert I. Jones") or "you and I."
                if rules.ordinals and core.isdigit():
                    kind = _MAYBE_END
            if kind is None and "." in core and _DOTTED.fullmatch(core):
                kind = _MAYBE_END
            if kind is not None:
                if kind == _TITLE or (kind == _BEFORE_NUMBER and first.isdigit()):
                    continue
                opener = _WORD.match(text, following)
                if opener is None or opener[0].lower() not in rules.starters:
                    continue
                # "Biden Says U.S. Will Act": a headline, not two sentences.
                if _in_title_case(text, max(sentence_start, stop_start - 100), following + 40):
                    continue
        elif len(stop) > 2 or stop == "…":
            # An ellipsis; "[...]" marks an omission inside a quotation.
            if word.endswith(("[", "(")) or not first.isupper():
                continue
            if " " in stop:
                if word:
                    # "compounds. . . . The": a period, then an omission opening the next sentence.
                    cuts.append((stop_start + 1, stop_start + 2))
                    sentence_start = stop_start + 2
                    continue
                if stop.count(".") < 4:
                    continue  # ". . ." between words; ". . . ." also ends the sentence
            elif not word and len(stop) <= 3:
                continue  # a free-standing "..." or "…" between words
        cuts.append((stop_start + len(stop) + len(close), after))
        sentence_start = after

    if rules.cjk:
        for cjk_stop in _CJK_STOP.finditer(text, start, end):
            sentence_end = cjk_stop.end()
            if sentence_end >= end:
                break
            # 「本当？」と彼は言った。: a quotation the sentence goes on after (と, って quote).
            if cjk_stop[0][-1] not in "。！？｡" and text[sentence_end] in "とっ":
                continue
            cuts.append((sentence_end, _SPACE.match(text, sentence_end, end).end()))
        cuts.sort()

    if item_starts:
        by_start = {next_start: sentence_end for sentence_end, next_start in cuts}
        for item_start in item_starts:
            by_start.setdefault(item_start, len(text[:item_start].rstrip()))
        cuts = sorted((sentence_end, next_start) for next_start, sentence_end in by_start.items())

    spans = []
    for sentence_end, next_start in cuts:
        if sentence_end > start:
            spans.append((start, sentence_end))
        start = next_start
    if end > start:
        spans.append((start, end))
    return spans


def split_sentences(text: str, language: str = "en") -> list[str]:
    """[text[start:end] for start, end in split_spans(text, language)]."""
    return [text[start:end] for start, end in split_spans(text, language)]
