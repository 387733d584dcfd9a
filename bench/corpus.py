"""A size and a seed in, deterministic news-like English text out, paragraphs split by "\n\n"."""

from __future__ import annotations

import random
import re


def _options(joined: str) -> tuple[str, ...]:
    return tuple(joined.split("|"))


_SLOTS: dict[str, tuple[str, ...]] = {
    "first": _options(
        "John|Maria|Olena|James|Sergei|Lloyd|Ursula|Pat|Emmanuel|Fatima|Kevin|Rishi|Andrei|Linda|"
        "Chuck|Keir|Volodymyr|Nancy|Ahmed|Mei"
    ),
    "last": _options(
        "Smith|Austin|Belousov|Ryder|Shoigu|Garcia|Kowalski|Nguyen|Schumer|Okafor|Jones|Miller|"
        "Grossi|Zelensky|Rossi|Novak|Brown|Haddad"
    ),
    "title": _options("Mr.|Mrs.|Ms.|Dr.|Gov.|Sen.|Gen.|Prof.|Rep.|Lt.|Col.|Capt."),
    "place": _options(
        "Washington|Kyiv|Moscow|Brussels|the U.S.|the U.K.|Crimea|St. Louis|New York|"
        "Zaporizhzhia|the E.U.|Beijing|Gaza|Kharkiv"
    ),
    "dateline": _options(
        "WASHINGTON (Reuters) - |KYIV, June 26 (AP) — |LONDON (Reuters) - |"
        "BRUSSELS, Sept. 11 (AFP) — |NEW YORK, Jan. 6 (AP) — |MOSCOW (Reuters) - "
    ),
    "org": _options(
        "the Pentagon|the International Atomic Energy Agency (IAEA)|the Defense Ministry|"
        "Acme Corp.|the U.S. State Department|the Zaporizhzhia nuclear power plant (Znpp)|"
        "the European Commission|Pitt, Briggs & Co.|the U.N. Security Council"
    ),
    "month": _options("Jan.|Feb.|March|April|May|June|July|Aug.|Sept.|Oct.|Nov.|Dec."),
    "day": _options("Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"),
    "thing": _options(
        "weapons|sanctions|the ceasefire|grain exports|energy prices|the budget|missile strikes|"
        "the peace talks|the election|interest rates|the inquiry"
    ),
    "quote": _options(
        "the importance of open lines of communication|consequences|false and misleading|"
        "a dangerous escalation|views were exchanged|we will not back down|losses"
    ),
    "n": tuple(str(number) for number in range(2, 100)),
    "date": tuple(str(number) for number in range(1, 29)),
    "d": tuple("0123456789"),
    "year": tuple(str(year) for year in range(1990, 2025)),
    "hour": tuple(str(hour) for hour in range(1, 12)),
}

_TEMPLATES = (
    "{title} {last} said on {day} that {org} would review {thing} by {month} {date}.",
    "The talks took place on an American initiative.. No clarification was given.",
    "{first} {last}, a spokesman for {org}, said the figure rose to {n}.{d} million in {year}.",
    "{org} said in a statement that {thing} had been discussed “at length.”",
    "At {hour} a.m. local time, {n} people were killed in {place}, officials said.",
    "“We will not accept this,” {last} told reporters in {place} on {day}. “The risk is real.”",
    'He said: "The situation in Kharkiv is under control." Others disagreed.',
    "The plan for {thing} will cost about ${n}.{d} billion, according to {org}.",
    "Shares of Globex Inc. fell {n}.{d}% to ${n}.{d}{d} in New York on {day}.",
    "The report, on p. {n} of the annual review, cites No. {n} as the main factor.",
    "{title} {last} and {title} {last} met at the White House on {month} {date}, {year}.",
    "Ukraine has not yet responded. The Kremlin blamed the United States and threatened “{quote}.”",
    "More details are at https://www.example{n}.org/news/{year}/item.html?id={n}{d}.",
    "Questions can be sent to press.office@example.com before {hour} p.m. on {day}.",
    "What happens next is unclear... Talks may resume in the spring.",
    "Is this the end of {thing}? Few analysts think so.",
    "The company employs {n},{d}00 people in the U.S. The rest work in Kyiv.",
    "He left.Then the minister arrived, e.g. to discuss {thing} with {first} {last}.",
    "The vote, held {n} years after Sept. 11, passed by {n} to {d}.",
    "Since {year} the population of {place} has fallen by {n}.{d}%, the agency estimates.",
    "{org} has repeatedly condemned {thing}, calling the claims “{quote}”.",
    "The U.S. government has supplied Ukraine with {n} systems with a range of up to {n}0 km.",
    "{first} {last} Jr. was recently appointed to head {org} after {n} years of service.",
    "Asked whether {thing} would change, {last} said: “Not now.” He declined to elaborate.",
    "Wow! That was fast, said {first}, who lives on Main St. near the station.",
    "The telephone conversation followed a few days after an attack on {place} with possibly "
    "American missiles, which has put relations between Washington and Moscow on edge.",
    "Although Russia annexed the area in {year} and considers it Russian, this is hardly "
    "recognized internationally, and according to international authorities it is Ukrainian.",
    "{first} {last}, who was appointed last May, warned {org} about the “risk of further "
    "escalation due to the supply of {thing},” according to a statement.",
    "The International Criminal Court issued an arrest warrant for {first} {last} on {day}; he "
    "is suspected of leading attacks on civilian targets, which is a war crime.",
    "In the last year the U.S. has supplied Kyiv with many of these systems, which can launch "
    "missiles with a range of up to {n}0 kilometers (about {n}0 miles).",
)

_SLOT = re.compile(r"\{(\w+)\}")


def _sentence(rng: random.Random) -> str:
    sentence = _SLOT.sub(lambda slot: rng.choice(_SLOTS[slot[1]]), rng.choice(_TEMPLATES))
    if sentence.endswith(".."):  # "according to Acme Corp.": one period ends both
        sentence = sentence[:-1]
    return sentence[0].upper() + sentence[1:]


def news_corpus(size_bytes: int, seed: int = 0) -> str:
    """Paragraphs of 2-7 sentences, some opening with a dateline, up to `size_bytes` UTF-8 bytes."""
    rng = random.Random(seed)
    # A pool keeps generation fast; recombining it keeps paragraphs varied.
    pool = [_sentence(rng) for _ in range(5000)]
    datelines = _SLOTS["dateline"]
    paragraphs: list[str] = []
    total = 0
    while True:
        sentences = rng.choices(pool, k=rng.randint(2, 7))
        if rng.random() < 0.15:
            sentences[0] = rng.choice(datelines) + sentences[0]
        paragraph = " ".join(sentences)
        size = len(paragraph.encode("utf-8")) + 2  # the blank line that follows it
        if total + size > size_bytes:
            break
        paragraphs.append(paragraph)
        total += size
    return "\n\n".join(paragraphs)
