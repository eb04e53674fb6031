"""RLlib's env runner for ``BatchedMultiAgentEnv`` that samples by arrays.

``WorldStepsEnvRunner`` (``batched_env.py``) samples the batched env through RLlib's own
loop: every step it builds one dict entry per agent of every world (B x (N + C) of them),
files each into its ``SingleAgentEpisode`` and runs the connector pipelines over them,
so its Python bookkeeping grows with the number of agents and costs several times the
world's step. ``BatchedEnvRunner`` keeps the rollout as arrays instead: every step it
calls each RLModule once on the stacked observations of its agents, samples their
actions from the module's action distribution as RLlib's ``GetActions`` connector does,
and steps the B worlds with ``BatchedMultiAgentEnv.step_arrays``. Only when a chunk ends
(the rollout's last step, or the end of an episode) does it cut the arrays into RLlib's
episodes: one ``MultiAgentEpisode`` per chunk, as the reference runner returns, holding
one ``SingleAgentEpisode`` per agent.

The chunks hold what the reference runner's chunks hold for the learners
(``tests/test_rllib_runner.py`` holds them to it): per agent, its observations from the
chunk's first to its last, its actions, rewards, ``action_dist_inputs``,
``action_logp`` and ``weights_seq_no``, truncated at the horizon. The central agents
observe and act only on review steps (and observe at the end): a central decision's
reward is the sum of the centre's rewards from the step it acted on to the step before
its next observation, and the decision belongs to the chunk in which that observation
arrives, so a decision taken just before a chunk ends is learned from in the next one;
the rewards before a centre's first observation of an episode are not learned from.
These are RLlib's rules for agents that skip steps (``MultiAgentEpisode``'s hanging
actions and rewards).

What it does not do, and refuses: random actions (``sample(random_actions=True)``),
custom env-to-module or module-to-env connectors (it runs the default pipelines' work
itself) and per-step episode callbacks (``on_episode_created``, ``on_episode_start``,
``on_episode_step``); ``on_episode_end`` and ``on_sample_end`` are called as usual.
Episode counts, step counts and episode metrics are in world steps and world episodes,
as ``WorldStepsEnvRunner`` logs them.
"""

from __future__ import annotations

import time
import uuid

import numpy as np
import torch
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.callbacks.utils import make_callback
from ray.rllib.core.columns import Columns
from ray.rllib.env.multi_agent_episode import MultiAgentEpisode
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.env.utils.infinite_lookback_buffer import InfiniteLookbackBuffer
from ray.rllib.utils.metrics import WEIGHTS_SEQ_NO

from .batched_env import BatchedMultiAgentEnv, WorldStepsEnvRunner

_PER_STEP_CALLBACKS = ("on_episode_created", "on_episode_start", "on_episode_step")


class _Chunk:
    """One role's arrays in the current chunk, each entry for all its agents of all worlds:
    observations (with the env step of each), the decision taken on each (action,
    log-probability, distribution inputs, weights number) and, per decision completed by
    its next observation, its reward."""

    def __init__(self):
        self.obs: list[np.ndarray] = []  # (B, agents, D) each
        self.steps: list[int] = []  # the env step t of each observation
        self.actions: list[np.ndarray] = []  # (B, agents, D) each
        self.logp: list[np.ndarray] = []  # (B, agents), as the distribution gives it
        self.dist: list[np.ndarray] = []  # (B, agents, 2D)
        self.seq_no: list[int] = []
        self.rewards: list[np.ndarray] = []  # (B, agents), one per completed decision
        self.pending: np.ndarray | None = None  # rewards since the last decision

    @property
    def hanging(self) -> bool:
        """Whether the last observation's decision awaits its next observation."""
        return len(self.actions) == len(self.obs) > 0

    @property
    def completed(self) -> int:
        """Decisions completed in this chunk: the ones learned from when it is cut."""
        return len(self.rewards)

    def decided(self, actions, logp, dist, seq_no: int) -> None:
        self.actions.append(actions)
        self.logp.append(logp)
        self.dist.append(dist)
        self.seq_no.append(seq_no)
        self.pending = np.zeros(actions.shape[:2])  # (B, agents)

    def rewarded(self, rewards: np.ndarray) -> None:
        if self.pending is not None:  # none before the first decision of an episode
            self.pending += rewards

    def observed(self, obs: np.ndarray, t: int) -> None:
        if self.hanging:  # completes the last decision
            self.rewards.append(self.pending)
            self.pending = None
        self.obs.append(obs)
        self.steps.append(t)

    def carry(self) -> _Chunk:
        """The next chunk's start: what follows the completed decisions (the last
        observation, with its decision if that hangs; everything if none completed)."""
        k, nxt = self.completed, _Chunk()
        nxt.obs, nxt.steps = self.obs[k:], self.steps[k:]
        nxt.actions, nxt.logp, nxt.dist = self.actions[k:], self.logp[k:], self.dist[k:]
        nxt.seq_no, nxt.pending = self.seq_no[k:], self.pending
        return nxt


class BatchedEnvRunner(WorldStepsEnvRunner):
    """Samples ``BatchedMultiAgentEnv`` by arrays; see the module docstring."""

    def _sample(
        self,
        *,
        num_timesteps=None,
        num_episodes=None,
        explore: bool,
        random_actions: bool = False,
        force_reset: bool = False,
    ) -> list[MultiAgentEpisode]:
        self._check_supported(random_actions)
        env = self._world_env
        returned = []
        if force_reset or num_episodes is not None or self._needs_initial_reset:
            self._ongoing_episodes_for_metrics.clear()  # their episodes never end (as RLlib)
            self._begin_episode(env, seed=self._seed if self._needs_initial_reset else None)
            self._needs_initial_reset = False
        if num_episodes is not None:
            self._needs_initial_reset = True
        env_ts = episodes = 0
        while (episodes < num_episodes) if num_timesteps is None else (env_ts < num_timesteps):
            done = self._step(env, explore)
            env_ts += self._log_steps(env, done)
            if done:
                episodes += env.n_worlds
                chunk = self._cut(env, done=True)
                self._done_episodes_for_metrics.append(chunk)
                self._episode_end(chunk, env)
                returned.append(chunk)
                self._begin_episode(env, seed=None)
                if num_episodes is not None and episodes >= num_episodes:
                    break
        if num_timesteps is not None and self._t > self._chunk_t0:
            chunk = self._cut(env, done=False)
            self._ongoing_episodes_for_metrics[chunk.id_].append(chunk)
            returned.append(chunk)
        return returned

    # ---- set-up ----------------------------------------------------------------------
    def _check_supported(self, random_actions: bool) -> None:
        if random_actions:
            raise ValueError("BatchedEnvRunner samples with the RLModule: random_actions=True")
        if self.module is None:
            raise ValueError("BatchedEnvRunner needs an RLModule to sample with")
        config = self.config
        if config._env_to_module_connector is not None:
            raise ValueError(
                "BatchedEnvRunner runs the default env-to-module pipeline itself: "
                "config.env_runners(env_to_module_connector=...) is not supported"
            )
        if config._module_to_env_connector is not None:
            raise ValueError(
                "BatchedEnvRunner runs the default module-to-env pipeline itself: "
                "config.env_runners(module_to_env_connector=...) is not supported"
            )
        for name in _PER_STEP_CALLBACKS:
            overridden = any(
                getattr(type(c), name, None) is not getattr(RLlibCallback, name)
                for c in self._callbacks
            )
            if getattr(config, f"callbacks_{name}", None) or overridden:
                raise ValueError(
                    f"BatchedEnvRunner does not step episode objects: callback {name} "
                    "is not supported (on_episode_end is)"
                )
        if config.count_steps_by != "env_steps":
            raise ValueError(
                f"BatchedEnvRunner counts world steps: count_steps_by = "
                f"{config.count_steps_by!r} is not supported (env_steps is)"
            )
        if not isinstance(self._world_env, BatchedMultiAgentEnv):
            raise ValueError(
                f"BatchedEnvRunner samples BatchedMultiAgentEnv, not {type(self._world_env)}"
            )

    @property
    def _world_env(self) -> BatchedMultiAgentEnv:
        if self.num_envs != 1:
            raise ValueError(
                "BatchedEnvRunner steps one BatchedMultiAgentEnv per runner: set "
                f"num_envs_per_env_runner = 1 (and worlds = B), not {self.num_envs}"
            )
        return self.env.envs[0].unwrapped

    def _roles(self, env: BatchedMultiAgentEnv) -> dict:
        """Per role ("local", "centre"): its agent ids (B x per world, in the env's order),
        the names per world and the one module the config's ``policy_mapping_fn`` maps
        them to (the runner calls each module once per step for its role)."""
        if getattr(self, "_role_table", None) is None:
            table = {}
            for role, agents, per_world in (
                ("local", env.local_agents, env.config.n_locals),
                ("centre", env.centre_agents, env.config.n_centres),
            ):
                modules = {self.config.policy_mapping_fn(a, None) for a in agents}
                if len(modules) != 1:
                    raise ValueError(
                        f"BatchedEnvRunner needs one module per role: policy_mapping_fn maps "
                        f"the {role} agents to {sorted(modules)}"
                    )
                names = [a.partition("/")[2] for a in agents[:per_world]]
                table[role] = (agents, names, modules.pop())
            self._role_table = table
            self._spaces = (env.observation_spaces, env.action_spaces)
        return self._role_table

    def _begin_episode(self, env: BatchedMultiAgentEnv, seed) -> None:
        """Reset the worlds; a new episode id; empty chunks."""
        env.reset(seed=seed)
        self._episode_id = uuid.uuid4().hex
        self._agent_episode_ids = {}
        self._t = self._chunk_t0 = 0
        self._agent_t = {"local": 0, "centre": 0}  # decisions learned from, per agent
        self._chunk_start_time = time.perf_counter()
        self._chunks = {"local": _Chunk(), "centre": _Chunk()}
        local, centre = env.observe()
        self._chunks["local"].observed(local, 0)
        if env.centre_decides():  # review_period 1: the centre decides at t = 0
            self._chunks["centre"].observed(centre, 0)

    # ---- one step -------------------------------------------------------------------
    def _step(self, env: BatchedMultiAgentEnv, explore: bool) -> bool:
        roles = self._roles(env)
        local_chunk, centre_chunk = self._chunks["local"], self._chunks["centre"]
        local_actions = self._act(roles["local"][2], local_chunk, explore)
        centre_actions = None
        if env.centre_decides():
            centre_actions = self._act(roles["centre"][2], centre_chunk, explore)
        rewards, done = env.step_arrays(local_actions, centre_actions)  # (B, C + N)
        self._t += 1
        n_centres = env.config.n_centres
        centre_chunk.rewarded(rewards[:, :n_centres])
        local_chunk.rewarded(rewards[:, n_centres:])
        local, centre = env.observe()
        local_chunk.observed(local, self._t)
        if done or env.centre_decides():
            if centre_chunk.hanging or not done:  # a centre with no decision ends unseen
                centre_chunk.observed(centre, self._t)
        return done

    def _act(self, module_id: str, chunk: _Chunk, explore: bool) -> np.ndarray:
        """The module's actions for the chunk's last observation (B, agents, D), as RLlib's
        ``GetActions`` connector samples them; recorded in the chunk."""
        obs = chunk.obs[-1]
        batch_shape = obs.shape[:2]
        module = self.module[module_id]
        with torch.no_grad():
            inputs = {Columns.OBS: torch.from_numpy(obs.reshape(-1, obs.shape[-1]))}
            if explore:
                out = module.forward_exploration(inputs, t=self._lifetime_steps())
                dist_cls = module.get_exploration_action_dist_cls()
            else:
                out = module.forward_inference(inputs)
                dist_cls = module.get_inference_action_dist_cls()
            dist_inputs = out[Columns.ACTION_DIST_INPUTS]
            dist = dist_cls.from_logits(dist_inputs)
            if not explore:
                dist = dist.to_deterministic()
            actions = dist.sample()
            logp = dist.logp(actions)
        actions = actions.numpy().reshape(*batch_shape, -1)
        chunk.decided(
            actions,
            logp.numpy().reshape(*batch_shape, *logp.shape[1:]),  # (a zero per dim if not explore)
            dist_inputs.numpy().reshape(*batch_shape, -1),
            self._weights_seq_no,
        )
        return actions

    def _lifetime_steps(self) -> int:
        runners = self.config.num_env_runners or 1
        return (self.num_env_steps_sampled_lifetime // runners) * runners

    def _log_steps(self, env: BatchedMultiAgentEnv, done: bool) -> int:
        """Log one step of the B worlds (as ``WorldStepsEnvRunner`` does); returns B."""
        roles = self._roles(env)
        counts = dict.fromkeys(roles["local"][1], env.n_worlds)
        if done or env.centre_decides():
            counts.update(dict.fromkeys(roles["centre"][1], env.n_worlds))
        return self._log_world_steps(counts, done)

    # ---- chunks into RLlib's episodes ------------------------------------------------
    def _cut(self, env: BatchedMultiAgentEnv, done: bool) -> MultiAgentEpisode:
        """The current chunk as one ``MultiAgentEpisode``; the chunks carry over."""
        roles = self._roles(env)
        obs_spaces, action_spaces = self._spaces
        episode = MultiAgentEpisode(
            id_=self._episode_id,
            observation_space=obs_spaces,
            action_space=action_spaces,
            agent_to_module_mapping_fn=self.config.policy_mapping_fn,
            env_t_started=self._chunk_t0,
        )
        episode.env_t = self._t
        # every agent is truncated at the horizon, and RLlib's episode then counts as
        # terminated too (all its agents are done): its learners do not bootstrap past the
        # horizon, the world's true end
        episode.is_truncated = episode.is_terminated = done
        now = time.perf_counter()
        summaries = env.episode_summaries() if done else None  # each world's, at the end
        for role, (agents, _, module_id) in roles.items():
            chunk = self._chunks[role]
            n = chunk.completed
            if n == 0:
                continue
            obs = np.stack(chunk.obs[: n + 1], axis=2)  # (B, agents, n + 1, D)
            actions = np.stack(chunk.actions[:n], axis=2)
            logp = np.stack(chunk.logp[:n], axis=2)
            dist = np.stack(chunk.dist[:n], axis=2)
            rewards = np.stack(chunk.rewards[:n], axis=2)
            seq_no = np.asarray(chunk.seq_no[:n])
            obs, actions, logp, dist, rewards = (
                a.reshape(len(agents), *a.shape[2:]) for a in (obs, actions, logp, dist, rewards)
            )
            t_started = self._agent_t[role]
            mapping, lookback = self._agent_steps(chunk.steps[: n + 1], t_started)
            for i, agent in enumerate(agents):
                infos = [{} for _ in range(n + 1)]
                if summaries is not None:
                    infos[-1] = {"episode_metrics": dict(summaries[env._world_of[agent]])}
                sa = SingleAgentEpisode(
                    id_=self._agent_episode_ids.setdefault(agent, uuid.uuid4().hex),
                    observations=obs[i],
                    observation_space=obs_spaces[agent],
                    infos=infos,
                    actions=actions[i],
                    action_space=action_spaces[agent],
                    rewards=rewards[i],
                    extra_model_outputs={
                        Columns.ACTION_DIST_INPUTS: dist[i],
                        Columns.ACTION_LOGP: logp[i],
                        WEIGHTS_SEQ_NO: seq_no,
                    },
                    terminated=done,
                    truncated=done,
                    t_started=t_started,
                    len_lookback_buffer=0,
                    agent_id=agent,
                    module_id=module_id,
                    multi_agent_episode_id=episode.id_,
                )
                sa._start_time, sa._last_step_time = self._chunk_start_time, now
                episode.agent_episodes[agent] = sa
                episode._agent_to_module_mapping[agent] = module_id
                episode.agent_t_started[agent] = t_started
                episode.env_t_to_agent_t[agent] = InfiniteLookbackBuffer(list(mapping), lookback)
            self._agent_t[role] = t_started + n
        episode._start_time, episode._last_step_time = self._chunk_start_time, now
        if not done:
            self._chunks = {role: chunk.carry() for role, chunk in self._chunks.items()}
            self._chunk_t0 = self._t
            self._chunk_start_time = now
        return episode

    def _agent_steps(self, steps: list[int], t_started: int) -> tuple[list, int]:
        """The env-step -> agent-step map (``S``: not observed) of the env steps from the
        agent's first observation in the chunk to its end, and its lookback: the steps
        before the chunk began (a centre's decision carried over from the last chunk)."""
        skip = MultiAgentEpisode.SKIP_ENV_TS_TAG
        first = min(steps[0], self._chunk_t0)
        mapping = [skip] * (self._t - first + 1)
        for k, t in enumerate(steps):
            mapping[t - first] = t_started + k
        return mapping, self._chunk_t0 - first

    def _episode_end(self, chunk: MultiAgentEpisode, env: BatchedMultiAgentEnv) -> None:
        """The ``on_episode_end`` callbacks, with the episode's earlier chunks."""
        make_callback(
            "on_episode_end",
            callbacks_objects=self._callbacks,
            callbacks_functions=self.config.callbacks_on_episode_end,
            kwargs=dict(
                episode=chunk,
                env_runner=self,
                metrics_logger=self.metrics,
                env=self.env.unwrapped,
                rl_module=self.module,
                env_index=0,
                prev_episode_chunks=self._ongoing_episodes_for_metrics[chunk.id_],
            ),
        )
