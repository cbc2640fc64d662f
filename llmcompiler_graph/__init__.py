"""LLMCompiler for LangGraph: plan tool calls as a DAG, run them in parallel, join.

Example:
    >>> from llmcompiler_graph import create_agent, create_llmcompiler
    >>> # agent = create_agent(model, tools)  # compiled, like langchain.agents.create_agent
    >>> # builder = create_llmcompiler(model, tools); graph = builder.compile()
"""

from llmcompiler_graph.chat_models import NoModelError, resolve_model
from llmcompiler_graph.durability.thread_locks import ThreadBusyError
from llmcompiler_graph.events import (
    JoinerDecisionEvent,
    LLMCompilerEvent,
    PlanFinishedEvent,
    TaskFinishedEvent,
    TaskParsedEvent,
    TaskStartedEvent,
)
from llmcompiler_graph.graph.agent import create_agent, create_llmcompiler_agent
from llmcompiler_graph.graph.answer_stream import ANSWER_TAG, JOINER_TAG, PLAN_TAG
from llmcompiler_graph.graph.factory import create_llmcompiler
from llmcompiler_graph.nodes import EXECUTE_TASK_NODE, JOINER_NODE, PLANNER_NODE, SCHEDULER_NODE
from llmcompiler_graph.options import AgentOptions, LLMCompilerOptions
from llmcompiler_graph.plan.parser import (
    JoinerDecision,
    ParsedCall,
    PlanLineError,
    PlanSyntaxError,
    StreamingPlanParser,
    parse_joiner_output,
    parse_plan,
    substitute_references,
)
from llmcompiler_graph.plan.prompts import build_planner_prompt
from llmcompiler_graph.sot.auto import AutoAgentState, create_auto_agent
from llmcompiler_graph.sot.graph import SkeletonState, create_skeleton_of_thought
from llmcompiler_graph.sot.router import needs_tools, suitable_for_skeleton
from llmcompiler_graph.state import LLMCompilerState, Task, TaskStatus
from llmcompiler_graph.visualize import plot_task_timeline

__all__ = [
    "AgentOptions",
    "LLMCompilerOptions",
    "ANSWER_TAG",
    "JOINER_TAG",
    "PLAN_TAG",
    "AutoAgentState",
    "SkeletonState",
    "EXECUTE_TASK_NODE",
    "JOINER_NODE",
    "PLANNER_NODE",
    "SCHEDULER_NODE",
    "JoinerDecision",
    "JoinerDecisionEvent",
    "LLMCompilerEvent",
    "LLMCompilerState",
    "NoModelError",
    "ParsedCall",
    "PlanFinishedEvent",
    "PlanLineError",
    "PlanSyntaxError",
    "StreamingPlanParser",
    "Task",
    "TaskFinishedEvent",
    "TaskParsedEvent",
    "TaskStartedEvent",
    "TaskStatus",
    "ThreadBusyError",
    "build_planner_prompt",
    "create_agent",
    "create_auto_agent",
    "create_llmcompiler",
    "create_llmcompiler_agent",
    "create_skeleton_of_thought",
    "needs_tools",
    "parse_joiner_output",
    "parse_plan",
    "plot_task_timeline",
    "resolve_model",
    "substitute_references",
    "suitable_for_skeleton",
]

__version__ = "0.1.0"
