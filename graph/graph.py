"""The state machine (docs/architecture.md §1):

route ─┬─ qa ─────► retrieve ─► answer ───────────────────────────────┐
       ├─ explain ► explain ──────────────────────────────────────────┤
       ├─ help ───► help ─────────────────────────────────────────────┤
       ├─ structure ► structure ─┐ (a summary alone goes to respond)  │
       ├─ run ────► prepare_run ─┤                                    ├─► respond ─► END
       └─ generate► gather ─► write ─► validate ─► execute ─► critique┤
                                         ▲    └──────────────────►┘   │
                                         └──────── repair ◄───────────┘
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from . import nodes, structure
from .configuration import Context
from .state import State


def build(checkpointer: Any = None):
    """Compile the graph; ``checkpointer`` keeps each thread's state (None: no memory between calls)."""
    g = StateGraph(State, context_schema=Context)
    g.add_node("route", nodes.route)
    g.add_node("retrieve", nodes.retrieve)
    g.add_node("answer", nodes.answer)
    g.add_node("explain", nodes.explain)
    g.add_node("help", nodes.help_)
    g.add_node("prepare_run", nodes.prepare_run)
    g.add_node("gather", nodes.gather)
    g.add_node("write", nodes.write)
    g.add_node("validate", nodes.validate)
    g.add_node("execute", nodes.execute)
    g.add_node("critique", nodes.critique)
    g.add_node("repair", nodes.repair)
    g.add_node("respond", nodes.respond)
    g.add_node("structure", structure.structure)

    g.add_edge(START, "route")
    g.add_conditional_edges("route", nodes.after_route)
    g.add_edge("retrieve", "answer")
    g.add_edge("answer", "respond")
    g.add_edge("explain", "respond")
    g.add_edge("help", "respond")
    g.add_conditional_edges("prepare_run", nodes.after_prepare)
    g.add_conditional_edges("structure", structure.after_structure, ["validate", "respond"])
    g.add_edge("gather", "write")
    g.add_conditional_edges("write", nodes.after_write)
    g.add_conditional_edges("validate", nodes.after_validate)
    g.add_edge("execute", "critique")
    g.add_conditional_edges("critique", nodes.after_critique)
    g.add_conditional_edges("repair", nodes.after_repair)
    g.add_edge("respond", END)
    return g.compile(checkpointer=checkpointer, name="mdbot")
