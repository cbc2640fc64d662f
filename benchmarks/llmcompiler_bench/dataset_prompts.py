"""Few-shot planner and joiner examples for the paper's three benchmarks.

Written for this package in the paper's style (plans only for the planner; observations,
a thought and the action for the joiner). `prompts/datasets/*.txt` hold readable copies
that a test keeps identical.
"""

from __future__ import annotations

from typing import Any

from llmcompiler_graph.plan.prompts import JOINER_SYSTEM_PROMPT

__all__ = ["DATASET_EXAMPLES", "REACT_ANSWER_STYLE", "dataset_prompt_kwargs"]

_HOTPOTQA_PLANNER = """\
Here are examples of plans for questions like the user's:
Question: Were Charles Darwin and Gregor Mendel born in the same country?
1. search("Charles Darwin")
2. search("Gregor Mendel")
3. join()<END_OF_PLAN>
###
Question: Which band was formed first, Blur or Oasis?
1. search("Blur (band)")
2. search("Oasis (band)")
3. join()<END_OF_PLAN>
###
"""

_HOTPOTQA_JOINER = """\
Answer with "yes" or "no" for yes/no questions, otherwise with the name only.

Examples:
Question: Were Charles Darwin and Gregor Mendel born in the same country?
1. search(query='Charles Darwin')
Observation: Charles Robert Darwin (1809-1882) was an English naturalist, born in Shrewsbury, England.
2. search(query='Gregor Mendel')
Observation: Gregor Johann Mendel (1822-1884) was a biologist born in Heinzendorf, Austrian Silesia.
Thought: Darwin was born in England and Mendel in Austrian Silesia, which are different countries.
Action: Finish(no)

Question: Which band was formed first, Blur or Oasis?
1. search(query='Blur (band)')
Observation: Blur are an English rock band formed in London in 1988.
2. search(query='Oasis (band)')
Observation: Could not find [Oasis (band)]. Similar: ['Oasis', 'Oasis (disambiguation)']
Thought: Blur was formed in 1988, but the search for Oasis failed; I need Oasis's formation year.
Action: Replan(search for "Oasis" to find the year the band Oasis was formed)
"""

_MOVIE_PLANNER = """\
Here is an example of a plan for a question like the user's:
Question: Find a movie similar to Jurassic Park, Titanic, Forrest Gump, The Lion King
Options:
Braveheart
Scary Movie 5
The Room
Zoolander 2
1. search("Jurassic Park")
2. search("Titanic (1997 film)")
3. search("Forrest Gump")
4. search("The Lion King")
5. search("Braveheart")
6. search("Scary Movie 5")
7. search("The Room")
8. search("Zoolander 2")
9. join()<END_OF_PLAN>
###
"""

_MOVIE_JOINER = """\
Answer with the chosen option exactly as it is written in the question.

Example:
Question: Find a movie similar to Jurassic Park, Titanic, Forrest Gump, The Lion King
Options:
Braveheart
Scary Movie 5
The Room
Zoolander 2
1. search(query='Jurassic Park')
Observation: Jurassic Park is a 1993 American science fiction action film directed by Steven Spielberg.
(... one observation per movie and option ...)
8. search(query='Zoolander 2')
Observation: Zoolander 2 is a 2016 American comedy film, widely panned by critics.
Thought: The four movies are acclaimed 1990s blockbusters; Braveheart (1995) is an acclaimed epic of the same era, the other options are parodies or cult flops.
Action: Finish(Braveheart)
"""

_PARALLELQA_PLANNER = """\
Here are examples of plans for questions like the user's:
Question: If the Nile were 10% shorter and the Amazon 5% longer, which river would be longer?
1. search("Nile")
2. search("Amazon River")
3. math("the Nile's length reduced by 10%", ["$1"])
4. math("the Amazon's length increased by 5%", ["$2"])
5. join()<END_OF_PLAN>
###
Question: What is the combined population of the three largest cities of Australia, in millions?
1. search("Sydney population")
2. search("Melbourne population")
3. search("Brisbane population")
4. math("sum of the three populations, in millions", ["$1", "$2", "$3"])
5. join()<END_OF_PLAN>
###
"""

_PARALLELQA_JOINER = """\
Answer with the number only (no units) for numeric questions, otherwise with the name only.

Examples:
Question: If the Nile were 10% shorter and the Amazon 5% longer, which river would be longer?
1. search(query='Nile')
Observation: The Nile is a major river in northeastern Africa, about 6,650 km long.
2. search(query='Amazon River')
Observation: The Amazon River in South America is about 6,400 km long.
3. math(problem="the Nile's length reduced by 10%", context=['$1'])
Observation: 5985
4. math(problem="the Amazon's length increased by 5%", context=['$2'])
Observation: 6720
Thought: The Nile would be 5,985 km and the Amazon 6,720 km, so the Amazon would be longer.
Action: Finish(Amazon River)

Question: What is the combined population of the three largest cities of Australia, in millions?
1. search(query='Sydney population')
Observation: Sydney has a population of about 5.5 million.
2. search(query='Melbourne population')
Observation: Melbourne has a population of about 5.2 million.
3. search(query='Brisbane population')
Observation: ERROR: search did not return within 60 s and was abandoned
4. math(problem='sum of the three populations, in millions', context=['$1', '$2', '$3'])
Observation: ERROR: not run because $3 did not succeed (search did not return within 60 s and was abandoned)
Thought: Brisbane's population is missing, so the sum could not be computed.
Action: Replan(search for "Brisbane" to get its population, then add the three populations)
"""

DATASET_EXAMPLES: dict[str, tuple[str, str]] = {
    "hotpotqa": (_HOTPOTQA_PLANNER, _HOTPOTQA_JOINER),
    "movie": (_MOVIE_PLANNER, _MOVIE_JOINER),
    "parallelqa": (_PARALLELQA_PLANNER, _PARALLELQA_JOINER),
}
"""Planner examples and joiner instructions+examples per dataset."""

REACT_ANSWER_STYLE: dict[str, str] = {
    "hotpotqa": 'Give the final answer as "yes" or "no" for yes/no questions, otherwise the name only.',
    "movie": "Give the final answer as the chosen option, exactly as written in the question.",
    "parallelqa": "Give the final answer as the number only (no units), otherwise the name only.",
}
"""The answer-format line each baseline gets, matching the joiner's instructions."""


def dataset_prompt_kwargs(dataset: str) -> dict[str, Any]:
    """`create_llmcompiler` prompt arguments with the dataset's examples (empty for others).

    Example:
        >>> sorted(dataset_prompt_kwargs("hotpotqa"))
        ['joiner_prompt', 'planner_examples']
    """
    if dataset not in DATASET_EXAMPLES:
        return {}
    planner_examples, joiner_examples = DATASET_EXAMPLES[dataset]
    general = JOINER_SYSTEM_PROMPT.split("\nExamples:\n", 1)[0]
    return {"planner_examples": planner_examples, "joiner_prompt": f"{general}\n{joiner_examples}"}
