#!/usr/bin/env python3
"""Golden values for Hinton's recipe, computed by the PyTorch port of his Matlab code.

Runs ../../shared/reference/ffcode_reference.py (not part of this project: read, never copied)
in float64 on a small network (24 inputs, hidden layers of 12, 10 and 8, batches of 6), one
training batch, and writes what each step of it computes to tests/golden/ffcode_golden.json:
RMS normalisation, the logistic goodness and its gradient, peer normalisation, the hard-negative
probabilities and the labels drawn from them, one SGD step of every layer and of the readout,
and both of the reference's tests (energy from the second hidden layer on, and softmax).
tests/ffcode_test.ts checks lib/core against these numbers.

    OMP_NUM_THREADS=2 /usr/bin/python3 tests/make_ffcode_golden.py
"""
import json
import os
import runpy
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(HERE, "..", "..", "shared", "reference", "ffcode_reference.py")

ref = runpy.run_path(REFERENCE, run_name="reference")
torch.set_grad_enabled(False)

# A small network in float64: the port reads these module-level settings at call time.
LAYERNUMS = {1: 24, 2: 12, 3: 10, 4: 8, 5: 10}
BATCH = 6
g = ref["FF"].__init__.__globals__
g.update(DTYPE=torch.float64, LAYERNUMS=LAYERNUMS, NUMCASES=BATCH)

gen = torch.Generator().manual_seed(3)
data_gen = torch.Generator().manual_seed(11)
images = torch.rand(BATCH, 24, generator=data_gen, dtype=torch.float64)
labels = torch.tensor([3, 1, 4, 1, 5, 9])
targets = torch.nn.functional.one_hot(labels, 10).to(torch.float64)
test_images = torch.rand(5, 24, generator=data_gen, dtype=torch.float64)
test_labels = torch.tensor([0, 2, 2, 7, 9])

model = ref["FF"](gen)
HIDDEN = (2, 3, 4)
initial = [dict(weight=model.weights[l].t().tolist(), bias=model.biases[l].tolist()) for l in HIDDEN]

# Record what the batch's negative labels are drawn from, and the labels drawn.
drawn = {}
choosefrom = g["choosefrom"]


def recording_choosefrom(probs, generator):
    chosen = choosefrom(probs, generator)
    drawn.update(probabilities=probs.tolist(), labels=chosen.argmax(1).tolist())
    return chosen


g["choosefrom"] = recording_choosefrom

# The inputs and logistic gradients of every layer on the batch, before the step.
def layer_values(data):
    normprev = g["ffnormrows"](data)
    values = []
    for l in HIDDEN:
        states, normstates = model.layer(l, normprev)
        p = torch.sigmoid(states.pow(2).sum(1, keepdim=True) - LAYERNUMS[l])
        values.append(dict(input=normprev.tolist(), states=states.tolist(), p=p.flatten().tolist()))
        normprev = normstates
    return values


positive = images.clone()
positive[:, :10] = targets
before_positive = layer_values(positive)
mean_before = [model.meanstates[l].tolist() for l in HIDDEN]

stats = model.train_epoch(images, targets, epoch=1, maxepoch=2)

negative = images.clone()
negative[:, :10] = torch.nn.functional.one_hot(torch.tensor(drawn["labels"]), 10).to(torch.float64)
# The negative pass ran with the weights from before the step: recompute it with those.
after = dict(
    layers=[
        dict(
            weight=model.weights[l].t().tolist(),
            bias=model.biases[l].tolist(),
            velocity_weight=(-model.weightsgrad[l]).t().tolist(),
            velocity_bias=(-model.biasesgrad[l]).tolist(),
            mean_activity=model.meanstates[l].tolist(),
        )
        for l in HIDDEN
    ],
    readout=[model.supweightsfrom[l].tolist() for l in (3, 4)],
    readout_velocity=[(-model.supweightsfromgrad[l]).tolist() for l in (3, 4)],
)

# The reference's tests on the trained model, per label.
def energies(x):
    out = torch.zeros(x.shape[0], 10, dtype=torch.float64)
    for lab in range(10):
        data = x.clone()
        data[:, :10] = 0
        data[:, lab] = 1
        normprev = g["ffnormrows"](data)
        for l in HIDDEN:
            states, normprev = model.layer(l, normprev)
            if l >= 3:
                out[:, lab] += states.pow(2).sum(1)
    return out


def softmax_logits(x):
    data = x.clone()
    data[:, :10] = 0.1
    normprev = g["ffnormrows"](data)
    labin = torch.zeros(x.shape[0], 10, dtype=torch.float64)
    for l in HIDDEN:
        _, normprev = model.layer(l, normprev)
        if l >= 3:
            labin = labin + normprev @ model.supweightsfrom[l]
    return labin


golden = dict(
    about="Computed in float64 by tests/make_ffcode_golden.py from ../shared/reference/"
    "ffcode_reference.py (a PyTorch port of Hinton's ffcode): one batch of 6, layers 24-12-10-8, "
    "lr 0.01, momentum 0.9, weight cost 0.001, peer normalisation 0.03, readout lr 0.1 with "
    "weight cost 0.003, from hidden layers 2 and 3. Weights are [out, in] as in torch.nn.Linear.",
    settings=dict(learning_rate=0.01, momentum=0.9, weight_decay=0.001, peer=0.03,
                  readout_learning_rate=0.1, readout_weight_decay=0.003, layers=[12, 10, 8]),
    images=images.tolist(),
    labels=labels.tolist(),
    positive=positive.tolist(),
    negative=negative.tolist(),
    rms=g["ffnormrows"](positive).tolist(),
    initial=initial,
    mean_activity_before=mean_before,
    positive_layers=before_positive,
    hard_negatives=drawn,
    after=after,
    test_images=test_images.tolist(),
    test_labels=test_labels.tolist(),
    energies=energies(test_images).tolist(),
    softmax_logits=softmax_logits(test_images).tolist(),
    # As the port draws hard negatives, from a readout that has learnt something.
    hard_negative_probabilities=g["softmax_rows"](
        softmax_logits(test_images)
        - 1000 * torch.nn.functional.one_hot(test_labels, 10).to(torch.float64)
    ).tolist(),
    train_loss=stats["train_loss"],
)
path = os.path.join(HERE, "golden", "ffcode_golden.json")
with open(path + ".tmp", "w") as f:
    json.dump(golden, f)
os.replace(path + ".tmp", path)
print(f"wrote {path}", file=sys.stderr)
